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

/* Set bit i of tree t, and summary bits upward until one was already set. */
static inline void pmm_tree_set(struct pmm_tree *t, uint64_t i)
{
    for (unsigned k = 0; k <= t->top; k++) {
        uint64_t *p = &t->level[k][i >> 6];
        uint64_t old = *p;
        *p = old | pmm_bit(i);
        if (old)
            return;
        i >>= 6;
    }
}

/* Clear bit i of tree t, and summary bits upward while a word became 0. */
static inline void pmm_tree_clear(struct pmm_tree *t, uint64_t i)
{
    for (unsigned k = 0; k <= t->top; k++) {
        uint64_t *p = &t->level[k][i >> 6];
        *p &= ~pmm_bit(i);
        if (*p)
            return;
        i >>= 6;
    }
}

static inline bool pmm_tree_test(const struct pmm_tree *t, uint64_t i)
{
    return t->level[0][i >> 6] & pmm_bit(i);
}

/* The lowest set bit >= pos of tree t, or PMM_NONE: climb while the masked
 * word is empty, then descend along the lowest set bits. O(top). */
static inline uint64_t pmm_tree_next(const struct pmm_tree *t, uint64_t pos)
{
    unsigned k = 0;
    for (;;) {
        if (pos >= t->nbits[k])
            return PMM_NONE;
        uint64_t w = pos >> 6;
        uint64_t x = t->level[k][w] & pmm_mask_from(pos);
        if (x) {
            pos = (w << 6) + (uint64_t)__builtin_ctzll(x);
            break;
        }
        if (k == t->top)
            return PMM_NONE;
        pos = w + 1;
        k++;
    }
    while (k > 0) {
        k--;
        pos = (pos << 6) + (uint64_t)__builtin_ctzll(t->level[k][pos]);
    }
    return pos;
}

/* Group g's class becomes cls (0..PMM_RUN_CLASSES): the run trees follow. */
static inline void pmm_group_set_class(struct pmm_core *c, uint64_t g, unsigned cls)
{
    unsigned old = MIN(c->gclass[g], PMM_RUN_CLASSES);
    for (unsigned k = old; k < cls; k++)
        pmm_tree_set(&c->run[k], g);
    for (unsigned k = cls; k < old; k++)
        pmm_tree_clear(&c->run[k], g);
    c->gclass[g] = (uint8_t)cls;
    for (uint64_t h = g; h <= g + 1 && h < c->ngroups; h++) {
        bool q = c->gclass[h] == PMM_RUN_CLASSES &&
                 (h == 0 || c->gclass[h - 1] == PMM_RUN_CLASSES);
        c->quiet[h >> 6] = q ? c->quiet[h >> 6] | pmm_bit(h) : c->quiet[h >> 6] & ~pmm_bit(h);
    }
}

/* Group g's true class, computed from level 0 (pmm_core.c). O(64 words). */
unsigned pmm_group_class(const struct pmm_core *c, uint64_t g);

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

/* Frames [f, e) became free: the runs starting in their groups may have
 * grown, and so may the run of the group before f's that reaches into f's
 * group (at most 127 frames: longer is class 7 already), when the frames
 * from the group's start up to f are free and so is the frame before it.
 * Those groups go to the top class ("maybe a long run") until a run
 * search looks at them again. */
static inline void pmm_groups_dirty(struct pmm_core *c, uint64_t f, uint64_t e)
{
    uint64_t g = f >> PMM_GROUP_SHIFT, last = (e - 1) >> PMM_GROUP_SHIFT;
    uint64_t gs = g << PMM_GROUP_SHIFT;
    if (g > 0 && f - gs < 128) {
        bool reach = true;
        for (uint64_t w = (gs - 1) >> 6; reach && w << 6 < f; w++)
            reach = (c->level[0][w] & pmm_word_mask(w, gs - 1, f)) == pmm_word_mask(w, gs - 1, f);
        if (reach)
            g--;
    }
    for (; g <= last; g++)
        if (c->gclass[g] != PMM_RUN_CLASSES)
            pmm_group_set_class(c, g, PMM_RUN_CLASSES);
}

/* Mark frames [f, e) used (their bits must be set). Summaries follow; the
 * run classes may now be too high, which they are allowed to be. */
static inline void pmm_mark_used(struct pmm_core *c, uint64_t f, uint64_t e)
{
    uint64_t *l0 = c->level[0];
    for (uint64_t w = f >> 6; w << 6 < e; w++) {
        uint64_t old = l0[w], x = old & ~pmm_word_mask(w, f, e);
        l0[w] = x;
        if (old == ~0ULL)
            pmm_tree_clear(&c->full, w);
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
        if ((old | m) == ~0ULL && old != ~0ULL)
            pmm_tree_set(&c->full, w);
    }
    pmm_groups_dirty(c, f, e);
    if (f >> 6 < c->hint)
        c->hint = f >> 6;
    return added;
}

#endif
