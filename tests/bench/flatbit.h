/*
 * The second PMM baseline: a flat bitmap (one bit per frame, set = free)
 * with a lowest-free hint and 64-bit word skipping, written as well as we
 * can without summaries, so that what the PMM's summaries buy is measured
 * against the best plain bitmap rather than a strawman.
 *
 *  - alloc(1): from the hint word, skip empty words, take the lowest set
 *    bit (ctz), and leave the hint on that word;
 *  - alloc(n): first fit from the hint: empty words are skipped a word at a
 *    time, runs inside a word are found with shift-and masks, runs across
 *    words by carrying the top run into the next words;
 *  - free: refuses a double free (any bit already set), sets the bits and
 *    lowers the hint.
 */
#ifndef PAGODA_BENCH_FLATBIT_H
#define PAGODA_BENCH_FLATBIT_H

#include <stddef.h>
#include <stdint.h>

struct flatbit {
    uint64_t *bits; /* bit set = frame free */
    uint64_t nframes, nwords, hint, free;
};

/* A map of `bytes` of RAM: frames below 1 MiB and below `used_below` used,
 * the rest free. */
void flatbit_init(struct flatbit *b, uint64_t bytes, uint64_t used_below);
void flatbit_fini(struct flatbit *b);
/* First fit of n frames (lowest address): the physical address, or 0. */
uint64_t flatbit_alloc(struct flatbit *b, size_t n);
/* 0, or -1 for a double free (nothing changes then). */
int flatbit_free(struct flatbit *b, uint64_t pa, size_t n);

#endif
