/*
 * PMM core, allocation and free: a hierarchical bitmap of 4 KiB frames.
 *
 * Theory of operation
 * -------------------
 * Structure. level[0] has one bit per frame from 0 up to the highest usable
 * byte; a SET bit is a FREE frame, so "find a free frame" is "find a set
 * bit" and costs one __builtin_ctzll per 64 frames. Above it sit summary
 * levels: bit j of level[k+1] says "word j of level[k] is not all zero".
 * Levels shrink 64x each until one word remains (level[top]). 256 GiB is
 * 2^26 frames: an 8 MiB level 0, then 128 KiB, 2 KiB, 32 bytes, 8 bytes.
 * All levels live in one block the caller provides (pmm_core_init).
 *
 * Invariants.
 *  - Summary bit set iff the word below is non-zero (pmm_bits.h keeps it).
 *  - Every level-0 word below `hint` is 0 (full), so first fit may start at
 *    the hint. Frees lower the hint; allocations never break the rule.
 *  - A frame is set only if it lies in one of `ranges` (allocatable memory:
 *    usable, at or above 1 MiB, not the bitmap, reclaimed bootloader memory).
 *  - free_frames == number of set level-0 bits.
 *
 * Cost (host figures: about 2.2 ns for an alloc(1) + free pair, the same
 * at 128 MiB and 256 GiB).
 *  - pmm_core_alloc(c, 1): the hint word is non-zero almost always: load,
 *    ctz, clear lowest bit (x & (x - 1)), store; about 15 instructions and
 *    no saved registers. When the word empties, the summary bit is cleared
 *    out of line (rarely more than one level). When the hint word is
 *    empty, find_next climbs at most `top` levels and descends again:
 *    O(levels) = O(log64 frames), 5 steps at 256 GiB, whatever the layout.
 *  - pmm_core_free(c, pa, 1): fast path when the frame is aligned and in
 *    the allocatable range the last free hit: test and set one bit, lower
 *    the hint (summary bits out of line when the word was empty). Anything
 *    else goes through every check, with a binary search of <= 64 ranges.
 *  - Runs (n > 1, aligned, below a limit): find_next jumps over used memory
 *    through the summaries; the candidate run is then checked a word at a
 *    time (64 free frames per step); a used frame restarts the search just
 *    after it. Cost is O(levels) per free gap visited plus O(n / 64).
 *
 * Weaknesses. Runs are first fit: a badly fragmented map makes a run search
 * visit every gap (no per-size free lists as a buddy allocator would have).
 * First fit also means small and large allocations share low memory, so
 * ordinary allocations eat the memory below 16 MiB that pmm_alloc_below
 * callers (ISA DMA) may want later. The
 * free checks know which frames may be handed out, not who owns them: a
 * free of someone else's allocated frame is not detected.
 */
#include <pagoda/errno.h>

#include "pmm_bits.h"

/* The lowest free frame >= pos, or PMM_NONE: climb while the masked word is
 * empty, then descend along the lowest set bits. */
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

/* The first used frame in [f, e), or e. Whole free words are skipped 64
 * frames at a time. */
static uint64_t find_used(const struct pmm_core *c, uint64_t f, uint64_t e)
{
    const uint64_t *l0 = c->level[0];
    uint64_t w = f >> 6;
    uint64_t x = ~l0[w] & pmm_mask_from(f);
    for (;;) {
        if (x) {
            uint64_t u = (w << 6) + (uint64_t)__builtin_ctzll(x);
            return u < e ? u : e;
        }
        if (++w << 6 >= e)
            return e;
        x = ~l0[w];
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
 * of line, so the fast path needs no saved registers. */
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

paddr_t pmm_core_alloc_run(struct pmm_core *c, size_t n, size_t align, uint64_t end_frame)
{
    uint64_t end = end_frame < c->nframes ? end_frame : c->nframes;
    if (n == 0 || n > c->free_frames || n > end || !IS_POW2(align) || align > end)
        return 0;
    uint64_t pos = c->hint << 6;
    uint64_t f;
    for (;;) {
        f = find_next(c, pos);
        if (f == PMM_NONE)
            return 0;
        f = ALIGN_UP(f, (uint64_t)align);
        /* f < 2^53 and n <= end, so nothing here overflows. */
        if (f + n > end)
            return 0;
        uint64_t u = find_used(c, f, f + n);
        if (u == f + n)
            break;
        pos = u + 1;
    }
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

static __attribute__((noinline)) int free_filled_word(struct pmm_core *c, uint64_t w)
{
    pmm_summary_set(c, w);
    return 0;
}

int pmm_core_free(struct pmm_core *c, paddr_t pa, size_t n)
{
    uint64_t f = pa >> PAGE_SHIFT;
    const struct pmm_frame_range *r = &c->ranges[c->last_range];
    /* Fast path: one aligned frame inside the range the last free hit. */
    if (likely(n == 1 && !(pa & PAGE_MASK) && f >= r->first && f < r->end)) {
        uint64_t w = f >> 6, x = c->level[0][w], bit = pmm_bit(f);
        if (unlikely(x & bit))
            return -E_DOUBLE;
        c->level[0][w] = x | bit;
        c->free_frames++;
        if (w < c->hint)
            c->hint = w;
        if (unlikely(!x))
            return free_filled_word(c, w);
        return 0;
    }
    return free_slow(c, pa, n);
}

bool pmm_core_is_free(const struct pmm_core *c, paddr_t pa)
{
    uint64_t f = pa >> PAGE_SHIFT;
    return f < c->nframes && (c->level[0][f >> 6] & pmm_bit(f));
}
