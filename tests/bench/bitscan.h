/*
 * The baseline the PMM is measured against: a one-bit-per-frame bitmap
 * searched bit by bit from frame 0 for the first run that fits, the way
 * teaching kernels (apoptOS and others) do it. No hint, no word skip.
 */
#ifndef PAGODA_BENCH_BITSCAN_H
#define PAGODA_BENCH_BITSCAN_H

#include <stddef.h>
#include <stdint.h>

struct bitscan {
    uint8_t *bits; /* bit set = frame used */
    uint64_t nframes;
};

/* A map of `bytes` of RAM: frames below 1 MiB and below `used_below` are
 * marked used, the rest free. */
void bitscan_init(struct bitscan *b, uint64_t bytes, uint64_t used_below);
void bitscan_fini(struct bitscan *b);
/* First fit of n frames: the physical address, or 0. */
uint64_t bitscan_alloc(struct bitscan *b, size_t n);
void bitscan_free(struct bitscan *b, uint64_t pa, size_t n);

#endif
