/*
 * Private helpers of the PMM core (pmm_core.c, pmm_core_init.c): the bit
 * operations on the hierarchical bitmap that keep the summary levels true.
 *
 * Invariant: bit j of level[k+1] is set iff word j of level[k] is non-zero.
 * Bits past nbits[k] in the last word of a level are always 0.
 */
#ifndef PAGODA_MM_PMM_BITS_H
#define PAGODA_MM_PMM_BITS_H

#include <pagoda/pmm_core.h>

#define PMM_NONE UINT64_MAX

static inline uint64_t pmm_bit(uint64_t i)
{
    return 1ULL << (i & 63);
}
/* Bits set in x. Written out because the kernel targets plain x86-64 (no
 * POPCNT) and links without libgcc, where __builtin_popcountll lives. */
static inline uint64_t pmm_popcount(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (x * 0x0101010101010101ULL) >> 56;
}

/* Mask of bits [i mod 64, 63] of a word. */
static inline uint64_t pmm_mask_from(uint64_t i)
{
    return ~0ULL << (i & 63);
}

/* Level-0 word w just became 0: clear its summary bit, and upward while the
 * summary word became 0 too. Out of line: it is the rare path of a single-
 * frame allocation, and inlining it costs the fast path register saves. */
static __attribute__((noinline, unused)) void pmm_summary_clear(struct pmm_core *c, uint64_t w)
{
    for (unsigned k = 1; k <= c->top; k++) {
        uint64_t *p = &c->level[k][w >> 6];
        *p &= ~pmm_bit(w);
        if (*p)
            return;
        w >>= 6;
    }
}

/* Level-0 word w just became non-zero: set summary bits upward until one
 * was already set. Out of line for the same reason. */
static __attribute__((noinline, unused)) void pmm_summary_set(struct pmm_core *c, uint64_t w)
{
    for (unsigned k = 1; k <= c->top; k++) {
        uint64_t *p = &c->level[k][w >> 6];
        uint64_t old = *p;
        *p = old | pmm_bit(w);
        if (old)
            return;
        w >>= 6;
    }
}

/* Mask of the bits of word w that fall inside frames [f, e). */
static inline uint64_t pmm_word_mask(uint64_t w, uint64_t f, uint64_t e)
{
    uint64_t m = ~0ULL;
    if (f > w << 6)
        m &= pmm_mask_from(f);
    if (e < (w + 1) << 6)
        m &= ~pmm_mask_from(e);
    return m;
}

/* Mark frames [f, e) used (their bits must be set). Summaries follow. */
static inline void pmm_mark_used(struct pmm_core *c, uint64_t f, uint64_t e)
{
    uint64_t *l0 = c->level[0];
    for (uint64_t w = f >> 6; w << 6 < e; w++) {
        uint64_t x = l0[w] & ~pmm_word_mask(w, f, e);
        l0[w] = x;
        if (!x)
            pmm_summary_clear(c, w);
    }
}

/* Mark frames [f, e) free; returns how many were not free before. */
static inline uint64_t pmm_mark_free(struct pmm_core *c, uint64_t f, uint64_t e)
{
    uint64_t *l0 = c->level[0], added = 0;
    for (uint64_t w = f >> 6; w << 6 < e; w++) {
        uint64_t old = l0[w], m = pmm_word_mask(w, f, e);
        l0[w] = old | m;
        added += pmm_popcount(m & ~old);
        if (!old)
            pmm_summary_set(c, w);
    }
    if (f >> 6 < c->hint)
        c->hint = f >> 6;
    return added;
}

#endif
