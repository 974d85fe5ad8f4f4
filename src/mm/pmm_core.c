/*
 * PMM core, allocation and free: a hierarchical bitmap of 4 KiB frames with
 * summaries that find free frames, free words and free runs without scans.
 *
 * Theory of operation
 * -------------------
 * Structure. level[0] has one bit per frame from 0 up to the highest usable
 * byte; a SET bit is a FREE frame, so "find a free frame" is "find a set
 * bit" and costs one __builtin_ctzll per 64 frames. Above it sit summary
 * levels: bit j of level[k+1] says "word j of level[k] is not all zero".
 * Levels shrink 64x each until one word remains (level[top]). 256 GiB is
 * 2^26 frames: an 8 MiB level 0, then 128 KiB, 2 KiB, 32 bytes, 8 bytes.
 * Two more summaries serve runs (n > 1 frames):
 *  - `full`, a tree with one bit per level-0 word, set iff all 64 frames
 *    of the word are free. Every run of 127 frames or more contains such a
 *    word, so a long run is found by jumping from full word to full word.
 *  - run classes over groups of 4096 frames (64 words): gclass[g] bounds
 *    from above floor(log2) of the longest free run starting in group g
 *    (7: 128 or more, or not known), and tree run[c-1] has the groups of
 *    class >= c. A short run (2..126 frames) visits only groups whose
 *    class admits it, and searches each a word at a time with shift-and
 *    masks (x & x >> 1 & ...), runs across word boundaries included. A
 *    run "starts in g" when it starts there or enters g from the group
 *    before; it is then measured from g's first frame. So an allocation
 *    can only shorten the runs of a group, never make a new one start.
 * All of it lives in one block the caller provides (pmm_core_init).
 *
 * Invariants.
 *  - Summary bit set iff the word below is non-zero (pmm_bits.h keeps it).
 *    A full word always has its `full` bit set; the bit may stay set after
 *    a single frame is taken (so the one-frame path never touches `full`),
 *    and the long-run search clears such stale bits as it meets them.
 *  - gclass is an upper bound, kept lazily: an allocation can only shorten
 *    runs, so it leaves the class alone; a free can lengthen the runs of
 *    its group and of the group before (a run may reach 127 frames into the
 *    next group), so it lifts both to class 7 unless they are there
 *    already (one bit test on the fast path). A run search that finds
 *    nothing in a group computes the group's true class (O(64 words)), so
 *    each group is scanned at most once per free that touched it.
 *  - Every level-0 word below `hint` is 0 (full), so first fit may start at
 *    the hint. Frees lower the hint; allocations never break the rule.
 *  - A frame is set only if it lies in one of `ranges` (allocatable memory:
 *    usable, at or above 1 MiB, not the bitmap, reclaimed bootloader memory).
 *  - free_frames == number of set level-0 bits.
 *
 * Cost.
 *  - pmm_core_alloc(c, 1): the hint word is non-zero almost always: load,
 *    ctz, clear lowest bit (x & (x - 1)), store; no saved registers. When
 *    the word empties, the summaries change out of line. When the hint word is
 *    empty, find_next climbs at most `top` levels and descends again:
 *    O(levels) = O(log64 frames), 5 steps at 256 GiB, whatever the layout.
 *  - pmm_core_free(c, pa, 1): fast path when the frame is aligned and in
 *    the allocatable range the last free hit: test and set one bit, lower
 *    the hint, test the group's `quiet` bit (it and the group before are
 *    in class 7, so no class can need lifting). Anything else goes through
 *    every check, with a binary search of <= 64 ranges.
 *  - Runs of 127+ frames: O(levels) per run that holds a full word before
 *    the one that fits, plus O(n / 64) to check it. Runs of 2..126: O(levels)
 *    per candidate group, plus <= 64 words in each group visited; groups
 *    whose class is too small are never looked at, however fragmented.
 *  - Space: 1/64 of level 0 for `full`, 7 bits and a byte per 4096 frames
 *    for the classes (about 1.9% over level 0).
 *
 * The per-CPU frame caches (src/mm/pmm_pcp.c) sit in front of this core
 * without changing it: frames taken and returned in batches through
 * pmm_core_alloc and pmm_core_free, under the caller's lock.
 *
 * Weaknesses. Runs are first fit (no per-size free lists as a buddy
 * allocator would have): runs that hold a full word but are too short are
 * each visited, and so are groups whose stale class is too high (once per
 * free). Aligned runs are filtered by length only, so a demanding alignment
 * can visit groups in vain. First fit also means small and large
 * allocations share low memory, so ordinary allocations eat the memory
 * below 16 MiB that pmm_alloc_below callers (ISA DMA) may want later. The
 * free checks know which frames may be handed out, not who owns them: a
 * free of someone else's allocated frame is not detected.
 */
#include <pagoda/errno.h>

#include "pmm_bits.h"

/* The lowest free frame >= pos, or PMM_NONE. */
static uint64_t find_next(const struct pmm_core *c, uint64_t pos)
{
    unsigned k = 0;
    for (;;) {
        if (pos >= c->nbits[k])
            return PMM_NONE;
        uint64_t w = pos >> 6;
        uint64_t x = c->level[k][w] & pmm_mask_from(pos);
        if (x) {
            pos = (w << 6) + (uint64_t)__builtin_ctzll(x);
            break;
        }
        if (k == c->top)
            return PMM_NONE;
        pos = w + 1;
        k++;
    }
    while (k > 0) {
        k--;
        pos = (pos << 6) + (uint64_t)__builtin_ctzll(c->level[k][pos]);
    }
    return pos;
}

/* Free frames at the bottom (top) of a word: 0..64. */
static inline unsigned ones_low(uint64_t x)
{
    return ~x ? (unsigned)__builtin_ctzll(~x) : 64;
}
static inline unsigned ones_high(uint64_t x)
{
    return ~x ? (unsigned)__builtin_clzll(~x) : 64;
}

/* Bits i of x such that bits i .. i+n-1 are all set (1 <= n <= 64): each
 * step doubles the length checked, a last one covers the remainder. */
static inline uint64_t fit_mask(uint64_t x, uint64_t n)
{
    uint64_t r = 1;
    while (2 * r <= n) {
        x &= x >> r;
        r *= 2;
    }
    if (n > r)
        x &= x >> (n - r);
    return x;
}

/* The bits of word w whose frame is a multiple of align (a power of two). */
static inline uint64_t align_mask(uint64_t w, uint64_t align)
{
    if (align == 1)
        return ~0ULL; /* the common case: no division */
    if (align >= 64)
        return (w << 6) & (align - 1) ? 0 : 1;
    return ~0ULL / ((1ULL << align) - 1);
}

/* floor(log2) of the longest run of set bits in x, 0 for none or 1. */
static inline unsigned word_class(uint64_t x)
{
    unsigned k = 0;
    for (unsigned s = 1; s < 64; s <<= 1) {
        x &= x >> s;
        if (!x)
            break;
        k++;
    }
    return k;
}

/* The class of a run of len frames. */
static inline unsigned len_class(uint64_t len)
{
    if (len >= 128)
        return PMM_RUN_CLASSES;
    return len < 2 ? 0 : 63 - (unsigned)__builtin_clzll(len);
}

unsigned pmm_group_class(const struct pmm_core *c, uint64_t g)
{
    const uint64_t *l0 = c->level[0];
    uint64_t nwords = (c->nframes + 63) >> 6;
    uint64_t w = g << 6, wend = MIN(w + 64, nwords);
    uint64_t clen = 0; /* the run that started in g and reaches word w */
    unsigned best = 0;
    uint64_t x = l0[w];
    for (;;) {
        if (clen) {
            unsigned p = ones_low(x);
            clen += p;
            if (clen >= 128)
                return PMM_RUN_CLASSES;
            if (p < 64) {
                best = MAX(best, len_class(clen));
                clen = 0;
                x &= x + 1;
            }
        }
        if (!clen) {
            best = MAX(best, word_class(x));
            clen = ones_high(x);
        }
        if (++w >= wend)
            break;
        x = l0[w];
    }
    /* A run open at the group's end goes on into the next words. */
    while (clen && w < nwords) {
        unsigned p = ones_low(l0[w++]);
        clen += p;
        if (clen >= 128)
            return PMM_RUN_CLASSES;
        if (p < 64)
            break;
    }
    return MAX(best, len_class(clen));
}

/* First fit of n (2..126) frames at a multiple of align, ending by `end`,
 * among the runs that start in group g at or after gs, frames below gs
 * counting as used. */
static uint64_t group_find(const struct pmm_core *c, uint64_t g, uint64_t gs, uint64_t n,
                           uint64_t align, uint64_t end)
{
    const uint64_t *l0 = c->level[0];
    uint64_t nwords = (c->nframes + 63) >> 6;
    uint64_t w = gs >> 6, wend = MIN((g + 1) << 6, nwords);
    uint64_t cs = 0, clen = 0; /* a run from frame cs, clen frames up to word w */
    uint64_t x = l0[w] & pmm_mask_from(gs);
    for (;;) {
        if (clen) {
            unsigned p = ones_low(x);
            uint64_t a = ALIGN_UP(cs, align);
            if (a + n <= cs + clen + p)
                return a + n <= end ? a : PMM_NONE;
            clen = p == 64 ? clen + 64 : 0;
        }
        if (!clen && w < wend) {
            uint64_t m = n <= 64 ? fit_mask(x, n) & align_mask(w, align) : 0;
            if (m) {
                uint64_t a = (w << 6) + (uint64_t)__builtin_ctzll(m);
                return a + n <= end ? a : PMM_NONE;
            }
            clen = ones_high(x);
            cs = (w << 6) + 64 - clen;
        }
        if (!clen && w + 1 >= wend)
            return PMM_NONE;
        if (++w >= nwords || (!clen && w << 6 >= end))
            return PMM_NONE;
        x = l0[w];
    }
}

/* First fit of 2..126 frames: only the groups whose class admits n. */
static uint64_t find_short(struct pmm_core *c, uint64_t pos, uint64_t n, uint64_t align,
                           uint64_t end)
{
    struct pmm_tree *t = &c->run[62 - __builtin_clzll(n)]; /* class floor(log2 n) */
    for (uint64_t g = pos >> PMM_GROUP_SHIFT;; g++) {
        g = pmm_tree_next(t, g);
        if (g == PMM_NONE)
            return PMM_NONE;
        uint64_t gs = MAX(g << PMM_GROUP_SHIFT, pos);
        if (gs >= end)
            return PMM_NONE;
        uint64_t f = group_find(c, g, gs, n, align, end);
        if (f != PMM_NONE)
            return f;
        /* Nothing here: the class was stale (or the alignment failed).
         * Compute the true one, so later searches skip the group. */
        pmm_group_set_class(c, g, pmm_group_class(c, g));
    }
}

/* First fit of 127 frames or more: every such run holds a full word. */
static uint64_t find_long(struct pmm_core *c, uint64_t pos, uint64_t n, uint64_t align,
                          uint64_t end)
{
    const uint64_t *l0 = c->level[0];
    uint64_t nwords = (c->nframes + 63) >> 6;
    for (uint64_t w = (pos + 63) >> 6;;) {
        w = pmm_tree_next(&c->full, w);
        if (w == PMM_NONE)
            return PMM_NONE;
        if (l0[w] != ~0ULL) { /* stale: a single frame was taken from it */
            pmm_tree_clear(&c->full, w);
            continue;
        }
        /* The run holding word w began in the word before it (which is not
         * full, unless it is the word of pos). */
        uint64_t s = w > 0 ? (w << 6) - ones_high(l0[w - 1]) : 0;
        s = MAX(s, pos);
        uint64_t a = ALIGN_UP(s, align);
        if (a >= end)
            return PMM_NONE;
        uint64_t e = (w + 1) << 6, v = w + 1;
        while (e < a + n && v < nwords) {
            uint64_t x = l0[v++];
            if (x != ~0ULL) {
                e += ones_low(x);
                break;
            }
            e += 64;
        }
        if (a + n <= e)
            return a + n <= end ? a : PMM_NONE;
        w = (e >> 6) + 1; /* the run ended inside word e >> 6 */
    }
}

/* Slow half of the single-frame path: the hint word is empty. */
static __attribute__((noinline)) paddr_t alloc_one_slow(struct pmm_core *c)
{
    uint64_t f = find_next(c, c->hint << 6);
    if (f == PMM_NONE)
        return 0;
    c->hint = f >> 6;
    return pmm_core_alloc(c, 1);
}

/* The single-frame path emptied word w: tell the summaries, return pa. Out
 * of line, so the fast path needs no saved registers. (Taking a frame from a
 * full word leaves its `full` bit set: the bit may be stale.) */
static __attribute__((noinline)) paddr_t alloc_emptied_word(struct pmm_core *c, uint64_t w,
                                                            paddr_t pa)
{
    pmm_summary_clear(c, w);
    return pa;
}

paddr_t pmm_core_alloc(struct pmm_core *c, size_t n)
{
    if (likely(n == 1)) {
        uint64_t w = c->hint;
        uint64_t x = c->level[0][w];
        if (likely(x)) {
            uint64_t rest = x & (x - 1); /* take the lowest free frame */
            paddr_t pa = ((w << 6) + (uint64_t)__builtin_ctzll(x)) << PAGE_SHIFT;
            c->level[0][w] = rest;
            c->free_frames--;
            if (unlikely(!rest))
                return alloc_emptied_word(c, w, pa);
            return pa;
        }
        return alloc_one_slow(c);
    }
    return pmm_core_alloc_run(c, n, 1, c->nframes);
}

/* First fit of one frame at a multiple of align: free frame, align up, and
 * start again past it if the aligned frame is used. */
static uint64_t find_one_aligned(const struct pmm_core *c, uint64_t pos, uint64_t align,
                                 uint64_t end)
{
    for (;;) {
        uint64_t f = find_next(c, pos);
        if (f == PMM_NONE)
            return PMM_NONE;
        f = ALIGN_UP(f, align);
        if (f + 1 > end)
            return PMM_NONE;
        if (c->level[0][f >> 6] & pmm_bit(f))
            return f;
        pos = f + 1;
    }
}

paddr_t pmm_core_alloc_run(struct pmm_core *c, size_t n, size_t align, uint64_t end_frame)
{
    uint64_t end = end_frame < c->nframes ? end_frame : c->nframes;
    if (n == 0 || n > c->free_frames || n > end || !IS_POW2(align) || align > end)
        return 0;
    /* f < 2^53 and n <= end below, so nothing overflows. */
    uint64_t pos = c->hint << 6, f;
    if (n == 1)
        f = find_one_aligned(c, pos, align, end);
    else if (n < 127)
        f = find_short(c, pos, n, align, end);
    else
        f = find_long(c, pos, n, align, end);
    if (f == PMM_NONE)
        return 0;
    pmm_mark_used(c, f, f + n);
    c->free_frames -= n;
    return f << PAGE_SHIFT;
}

bool pmm_core_allocatable(struct pmm_core *c, uint64_t first, uint64_t n)
{
    const struct pmm_frame_range *r = &c->ranges[c->last_range];
    if (n > UINT64_MAX - first) /* first + n would wrap past 2^64 */
        return false;
    if (likely(c->nranges && first >= r->first && first + n <= r->end))
        return true;
    /* Binary search for the last range starting at or below `first`. */
    unsigned lo = 0, hi = c->nranges;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (c->ranges[mid].first <= first)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return false;
    r = &c->ranges[lo - 1];
    if (first + n > r->end)
        return false;
    c->last_range = lo - 1;
    return true;
}

/* Is any frame of [f, e) free? */
static bool any_free(const struct pmm_core *c, uint64_t f, uint64_t e)
{
    for (uint64_t w = f >> 6; w << 6 < e; w++)
        if (c->level[0][w] & pmm_word_mask(w, f, e))
            return true;
    return false;
}

/* Every case of a free but the fast one: all the checks, runs. */
static __attribute__((noinline)) int free_slow(struct pmm_core *c, paddr_t pa, size_t n)
{
    if (pa & PAGE_MASK)
        return -E_ALIGN;
    uint64_t f = pa >> PAGE_SHIFT;
    if (n == 0 || f >= c->nframes || n > c->nframes - f)
        return -E_RANGE;
    if (!pmm_core_allocatable(c, f, n))
        return -E_BADFREE;
    if (any_free(c, f, f + n))
        return -E_DOUBLE;
    c->free_frames += pmm_mark_free(c, f, f + n);
    return 0;
}

/* The single-frame free filled an empty word, completed a full one, or
 * touched a group (or the end of the group before) not in class 7. */
static __attribute__((noinline)) int free_note(struct pmm_core *c, uint64_t f, uint64_t old,
                                               uint64_t now)
{
    if (!old)
        pmm_summary_set(c, f >> 6);
    if (now == ~0ULL && !pmm_tree_test(&c->full, f >> 6))
        pmm_tree_set(&c->full, f >> 6);
    pmm_groups_dirty(c, f, f + 1);
    return 0;
}

int pmm_core_free(struct pmm_core *c, paddr_t pa, size_t n)
{
    uint64_t f = pa >> PAGE_SHIFT;
    const struct pmm_frame_range *r = &c->ranges[c->last_range];
    /* Fast path: one aligned frame inside the range the last free hit. */
    if (likely(n == 1 && !(pa & PAGE_MASK) && f >= r->first && f < r->end)) {
        uint64_t w = f >> 6, x = c->level[0][w], bit = pmm_bit(f), now = x | bit;
        uint64_t g = f >> PMM_GROUP_SHIFT;
        if (unlikely(x & bit))
            return -E_DOUBLE;
        c->level[0][w] = now;
        c->free_frames++;
        if (w < c->hint)
            c->hint = w;
        /* Out of line: the word was empty, or became full without its bit,
         * or a run class may have to be lifted (the group is not quiet). */
        if (unlikely(!x || !(c->quiet[g >> 6] & pmm_bit(g)) ||
                     (now == ~0ULL && !pmm_tree_test(&c->full, w))))
            return free_note(c, f, x, now);
        return 0;
    }
    return free_slow(c, pa, n);
}

bool pmm_core_is_free(const struct pmm_core *c, paddr_t pa)
{
    uint64_t f = pa >> PAGE_SHIFT;
    return f < c->nframes && (c->level[0][f >> 6] & pmm_bit(f));
}
