/*
 * PMM core, set-up and bookkeeping: sizing and placing the bitmap, building
 * it from a stivale2 memory map, the allocatable ranges used by the free
 * checks, reclaiming bootloader memory, and an invariant checker.
 *
 * Building (pmm_core_init), O(frames / 64 + entries * words touched):
 *  1. every level-0 bit starts 0 (used);
 *  2. USABLE entries, shrunk inward to whole pages, set their bits;
 *  3. every other entry, widened outward to whole pages, clears its bits
 *     again, so a map with overlaps errs on the safe side; bootloader-
 *     reclaimable entries are remembered for pmm_core_reclaim, less the
 *     frames any other non-usable entry covers (those stay used for good);
 *  4. the low 1 MiB and the bitmap's own frames are cleared;
 *  5. the runs of set bits become the allocatable ranges;
 *  6. the summary levels, the free count and the hint are computed;
 *  7. the full-word tree is built, and every group starts in the top run
 *     class ("not known yet"): the first run search that visits a group
 *     computes its class.
 *
 * Memory: the block holds, one after the other, the free-frame levels, the
 * full-word tree (1/64 of level 0), the PMM_RUN_CLASSES run trees (one bit
 * per group each), the quiet bits and one class byte per group: about 1.9%
 * over level 0.
 */
#include <pagoda/errno.h>
#include <pagoda/string.h>

#include "pmm_bits.h"

/* Level sizes for nframes frames; returns the total words of all levels. */
static uint64_t layout(uint64_t nframes, uint64_t nbits[PMM_MAX_LEVELS], unsigned *top)
{
    uint64_t total = 0, bits = nframes;
    for (unsigned k = 0; k < PMM_MAX_LEVELS; k++) {
        uint64_t words = (bits + 63) / 64;
        nbits[k] = bits;
        total += words;
        if (words <= 1) {
            *top = k;
            return total;
        }
        bits = words;
    }
    /* 64^8 frames cannot happen below PMM_PHYS_LIMIT. */
    *top = PMM_MAX_LEVELS - 1;
    return total;
}

/* Words of the whole block for nframes frames: the free-frame levels (their
 * layout in nbits/top), the full-word tree, the run trees, the class bytes. */
static uint64_t block_words(uint64_t nframes, uint64_t nbits[PMM_MAX_LEVELS], unsigned *top)
{
    uint64_t tb[PMM_MAX_LEVELS];
    unsigned tt;
    uint64_t words = layout(nframes, nbits, top);
    uint64_t ngroups = (nframes + PMM_GROUP_FRAMES - 1) >> PMM_GROUP_SHIFT;
    words += layout((nframes + 63) / 64, tb, &tt);
    words += PMM_RUN_CLASSES * layout(ngroups, tb, &tt);
    words += (ngroups + 63) / 64; /* quiet */
    return words + (ngroups + 7) / 8;
}

/* Entry e's end address, clamped to PMM_PHYS_LIMIT without overflow. */
static uint64_t entry_end(const struct stivale2_mmap_entry *e)
{
    if (e->base >= PMM_PHYS_LIMIT)
        return PMM_PHYS_LIMIT;
    return e->length > PMM_PHYS_LIMIT - e->base ? PMM_PHYS_LIMIT : e->base + e->length;
}

/* Whole frames inside the entry: [*first, *end). */
static void inner_frames(const struct stivale2_mmap_entry *e, uint64_t *first, uint64_t *end)
{
    uint64_t lo = e->base >= PMM_PHYS_LIMIT ? PMM_PHYS_LIMIT : ALIGN_UP(e->base, PAGE_SIZE);
    uint64_t hi = ALIGN_DOWN(entry_end(e), PAGE_SIZE);
    *first = lo >> PAGE_SHIFT;
    *end = hi > lo ? hi >> PAGE_SHIFT : *first;
}

static bool may_become_usable(uint32_t type)
{
    return type == STIVALE2_MMAP_USABLE || type == STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE;
}

/* One past the highest frame that is or may become usable; 0 if none. */
static uint64_t top_frame(const struct stivale2_mmap_entry *map, size_t n)
{
    uint64_t top = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t f, e;
        inner_frames(&map[i], &f, &e);
        if (may_become_usable(map[i].type) && e > f && e > top)
            top = e;
    }
    return top;
}

uint64_t pmm_core_frames(const struct stivale2_mmap_entry *map, size_t n)
{
    return top_frame(map, n);
}

size_t pmm_core_bitmap_bytes(const struct stivale2_mmap_entry *map, size_t n)
{
    uint64_t nbits[PMM_MAX_LEVELS];
    unsigned top;
    uint64_t frames = top_frame(map, n);
    if (frames == 0)
        return 0;
    return ALIGN_UP(block_words(frames, nbits, &top) * 8, PAGE_SIZE);
}

/* Does any entry that is not USABLE overlap [lo, hi)? Returns it or NULL. */
static const struct stivale2_mmap_entry *overlap_unusable(const struct stivale2_mmap_entry *map,
                                                          size_t n, uint64_t lo, uint64_t hi)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].type != STIVALE2_MMAP_USABLE && map[i].base < hi && entry_end(&map[i]) > lo)
            return &map[i];
    return NULL;
}

paddr_t pmm_core_place_bitmap(const struct stivale2_mmap_entry *map, size_t n, size_t bytes,
                              paddr_t limit)
{
    paddr_t best = 0;
    if (bytes == 0)
        return 0;
    bytes = ALIGN_UP(bytes, PAGE_SIZE);
    for (size_t i = 0; i < n; i++) {
        if (map[i].type != STIVALE2_MMAP_USABLE)
            continue;
        uint64_t f, e;
        inner_frames(&map[i], &f, &e);
        uint64_t lo = MAX(f << PAGE_SHIFT, PMM_LOW_RESERVE);
        uint64_t hi = MIN(e << PAGE_SHIFT, ALIGN_DOWN(limit, PAGE_SIZE));
        /* Highest spot in this entry that no other entry claims. Each step
         * lowers hi, so the loop ends. */
        while (hi > lo && hi - lo >= bytes) {
            const struct stivale2_mmap_entry *x = overlap_unusable(map, n, hi - bytes, hi);
            if (!x) {
                if (hi - bytes > best)
                    best = hi - bytes;
                break;
            }
            hi = ALIGN_DOWN(x->base, PAGE_SIZE);
        }
    }
    return best;
}

/* Set or clear level-0 bits [f, e) without touching the summaries. */
static void raw_fill(struct pmm_core *c, uint64_t f, uint64_t e, bool set)
{
    if (e > c->nframes)
        e = c->nframes;
    for (uint64_t w = f >> 6; f < e && w << 6 < e; w++) {
        uint64_t m = pmm_word_mask(w, f, e);
        c->level[0][w] = set ? c->level[0][w] | m : c->level[0][w] & ~m;
    }
}

/* Insert frames [first, end) into the sorted range list, merging with any
 * range it overlaps or touches. False when the list is full. */
static bool range_insert(struct pmm_core *c, uint64_t first, uint64_t end)
{
    unsigned n = c->nranges, i = 0, j;
    while (i < n && c->ranges[i].end < first)
        i++;
    for (j = i; j < n && c->ranges[j].first <= end; j++) {
        first = MIN(first, c->ranges[j].first);
        end = MAX(end, c->ranges[j].end);
    }
    if (j == i && n == PMM_MAX_RANGES)
        return false;
    memmove(&c->ranges[i + 1], &c->ranges[j], (n - j) * sizeof(c->ranges[0]));
    c->ranges[i] = (struct pmm_frame_range){first, end};
    c->nranges = n - (j - i) + 1;
    c->last_range = 0;
    return true;
}

/* Next set (want = true) or clear level-0 bit at or after pos; nframes if
 * none before it. */
static uint64_t scan_l0(const struct pmm_core *c, uint64_t pos, bool want)
{
    uint64_t nwords = (c->nframes + 63) / 64;
    if (pos >= c->nframes)
        return c->nframes;
    uint64_t w = pos >> 6, flip = want ? 0 : ~0ULL;
    uint64_t x = (c->level[0][w] ^ flip) & pmm_mask_from(pos);
    while (!x) {
        if (++w >= nwords)
            return c->nframes;
        x = c->level[0][w] ^ flip;
    }
    uint64_t r = (w << 6) + (uint64_t)__builtin_ctzll(x);
    return r < c->nframes ? r : c->nframes;
}

static uint64_t popcount_l0(const struct pmm_core *c, uint64_t f, uint64_t e)
{
    uint64_t n = 0;
    for (uint64_t w = f >> 6; w << 6 < e; w++)
        n += pmm_popcount(c->level[0][w] & pmm_word_mask(w, f, e));
    return n;
}

/* Point tree t's levels into memory at p; returns the word after them. */
static uint64_t *tree_place(struct pmm_tree *t, uint64_t *p)
{
    for (unsigned k = 0; k <= t->top; k++) {
        t->level[k] = p;
        p += (t->nbits[k] + 63) / 64;
    }
    return p;
}

static void set_level_pointers(struct pmm_core *c, void *mem)
{
    uint64_t *p = mem;
    c->level[0] = p;
    for (unsigned k = 0; k < c->top; k++)
        c->level[k + 1] = c->level[k] + (c->nbits[k] + 63) / 64;
    p = c->level[c->top] + 1;
    p = tree_place(&c->full, p);
    for (unsigned k = 0; k < PMM_RUN_CLASSES; k++)
        p = tree_place(&c->run[k], p);
    c->quiet = p;
    p += (c->ngroups + 63) / 64;
    c->gclass = (uint8_t *)p;
}

/* Level 0 of t is filled in: compute its summary levels. */
static void tree_summarise(struct pmm_tree *t)
{
    for (unsigned k = 0; k < t->top; k++) {
        uint64_t words = (t->nbits[k] + 63) / 64;
        for (uint64_t w = 0; w < words; w++)
            if (t->level[k][w])
                t->level[k + 1][w >> 6] |= pmm_bit(w);
    }
}

/* Step 7: the full-word tree from level 0; every group in the top class. */
static void build_run_summaries(struct pmm_core *c)
{
    uint64_t words = (c->nframes + 63) / 64;
    for (uint64_t w = 0; w < words; w++)
        if (c->level[0][w] == ~0ULL)
            c->full.level[0][w >> 6] |= pmm_bit(w);
    tree_summarise(&c->full);
    for (unsigned k = 0; k < PMM_RUN_CLASSES; k++) {
        struct pmm_tree *t = &c->run[k];
        for (uint64_t g = 0; g < c->ngroups; g++)
            t->level[0][g >> 6] |= pmm_bit(g);
        tree_summarise(t);
    }
    memset(c->gclass, PMM_RUN_CLASSES, c->ngroups);
    for (uint64_t g = 0; g < c->ngroups; g++)
        c->quiet[g >> 6] |= pmm_bit(g);
}

void pmm_core_move(struct pmm_core *c, void *mem)
{
    set_level_pointers(c, mem);
}

static void remember_reclaimable(struct pmm_core *c, const struct stivale2_mmap_entry *e)
{
    uint64_t f, end;
    inner_frames(e, &f, &end);
    f = MAX(f, PMM_LOW_RESERVE >> PAGE_SHIFT);
    end = MIN(end, c->nframes);
    if (f >= end)
        return;
    /* Merge with the previous one when they touch (they usually come sorted). */
    if (c->nreclaim && c->reclaim[c->nreclaim - 1].end == f)
        c->reclaim[c->nreclaim - 1].end = end;
    else if (c->nreclaim < PMM_MAX_RECLAIM)
        c->reclaim[c->nreclaim++] = (struct pmm_frame_range){f, end};
    /* else: more reclaimable pieces than slots; these stay used. */
}

/* Frames [lo, hi) are covered by an entry that is neither usable nor
 * bootloader-reclaimable: it wins, so no reclaimable range may keep them. A
 * range split in two when the list is full loses its tail (it stays used). */
static void reclaim_cut(struct pmm_core *c, uint64_t lo, uint64_t hi)
{
    for (unsigned i = 0; i < c->nreclaim;) {
        struct pmm_frame_range *r = &c->reclaim[i];
        if (r->end <= lo || r->first >= hi) {
            i++;
            continue;
        }
        if (r->first < lo && r->end > hi) {
            if (c->nreclaim < PMM_MAX_RECLAIM)
                c->reclaim[c->nreclaim++] = (struct pmm_frame_range){hi, r->end};
            r->end = lo;
        } else if (r->first < lo) {
            r->end = lo;
        } else if (r->end > hi) {
            r->first = hi;
        } else {
            *r = c->reclaim[--c->nreclaim]; /* wholly covered: look at slot i again */
            continue;
        }
        i++;
    }
}

/* Steps 5 and 6: ranges from runs of free frames, then summaries. */
static void build_ranges_and_summaries(struct pmm_core *c)
{
    for (uint64_t pos = scan_l0(c, 0, true); pos < c->nframes;) {
        uint64_t end = scan_l0(c, pos, false);
        if (!range_insert(c, pos, end)) {
            raw_fill(c, pos, end, false);
            c->lost_frames += end - pos;
        }
        pos = scan_l0(c, end, true);
    }
    for (unsigned k = 0; k < c->top; k++) {
        uint64_t words = (c->nbits[k] + 63) / 64;
        for (uint64_t w = 0; w < words; w++)
            if (c->level[k][w])
                c->level[k + 1][w >> 6] |= pmm_bit(w);
    }
    c->free_frames = popcount_l0(c, 0, c->nframes);
    uint64_t first = scan_l0(c, 0, true);
    c->hint = first < c->nframes ? first >> 6 : 0;
}

int pmm_core_init(struct pmm_core *c, const struct stivale2_mmap_entry *map, size_t n, void *mem,
                  paddr_t bitmap_phys, size_t bytes)
{
    memset(c, 0, sizeof(*c));
    c->nframes = top_frame(map, n);
    if (c->nframes == 0)
        return -E_INVAL;
    uint64_t words = block_words(c->nframes, c->nbits, &c->top);
    c->ngroups = (c->nframes + PMM_GROUP_FRAMES - 1) >> PMM_GROUP_SHIFT;
    layout((c->nframes + 63) / 64, c->full.nbits, &c->full.top);
    for (unsigned k = 0; k < PMM_RUN_CLASSES; k++)
        layout(c->ngroups, c->run[k].nbits, &c->run[k].top);
    if (bytes < words * 8)
        return -E_NOMEM;
    set_level_pointers(c, mem);
    memset(mem, 0, words * 8);
    /* The whole block is the caller's bitmap, even when it holds more than
     * the core's levels (the kernel keeps the frame-cache bits after them). */
    c->bitmap_bytes = ALIGN_UP(MAX(bytes, words * 8), PAGE_SIZE);
    c->bitmap_phys = bitmap_phys;

    for (size_t i = 0; i < n; i++) { /* step 2 */
        uint64_t f, e;
        inner_frames(&map[i], &f, &e);
        if (map[i].type == STIVALE2_MMAP_USABLE)
            raw_fill(c, f, e, true);
    }
    for (size_t i = 0; i < n; i++) { /* step 3 */
        if (map[i].type == STIVALE2_MMAP_USABLE)
            continue;
        if (map[i].type == STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE)
            remember_reclaimable(c, &map[i]);
        if (map[i].base < PMM_PHYS_LIMIT)
            raw_fill(c, map[i].base >> PAGE_SHIFT,
                     ALIGN_UP(entry_end(&map[i]), PAGE_SIZE) >> PAGE_SHIFT, false);
    }
    for (size_t i = 0; i < n; i++) /* step 3, whatever the entries' order */
        if (!may_become_usable(map[i].type) && map[i].base < PMM_PHYS_LIMIT)
            reclaim_cut(c, map[i].base >> PAGE_SHIFT,
                        ALIGN_UP(entry_end(&map[i]), PAGE_SIZE) >> PAGE_SHIFT);
    c->usable_frames = popcount_l0(c, 0, c->nframes);

    raw_fill(c, 0, PMM_LOW_RESERVE >> PAGE_SHIFT, false); /* step 4 */
    if (bitmap_phys)
        raw_fill(c, bitmap_phys >> PAGE_SHIFT, (bitmap_phys + c->bitmap_bytes) >> PAGE_SHIFT,
                 false);
    build_ranges_and_summaries(c);
    build_run_summaries(c);
    return 0;
}

uint64_t pmm_core_reclaim(struct pmm_core *c)
{
    uint64_t freed = 0;
    for (unsigned i = 0; i < c->nreclaim; i++) {
        struct pmm_frame_range r = c->reclaim[i];
        if (!range_insert(c, r.first, r.end)) {
            c->lost_frames += r.end - r.first;
            continue;
        }
        freed += pmm_mark_free(c, r.first, r.end);
    }
    c->nreclaim = 0;
    c->free_frames += freed;
    c->usable_frames += freed;
    return freed;
}

/* Summary levels of t agree with its level 0, and padding bits are 0. */
static bool tree_ok(const struct pmm_tree *t)
{
    for (unsigned k = 0; k <= t->top; k++) {
        uint64_t words = (t->nbits[k] + 63) / 64;
        if (t->nbits[k] & 63 && t->level[k][words - 1] & pmm_mask_from(t->nbits[k]))
            return false;
        for (uint64_t w = 0; k < t->top && w < words; w++)
            if (!!t->level[k][w] != !!(t->level[k + 1][w >> 6] & pmm_bit(w)))
                return false;
    }
    return true;
}

/* The run trees and classes: trees agree with gclass, and every group's
 * class bounds its true class from above. */
static bool runs_ok(const struct pmm_core *c)
{
    uint64_t words = (c->nframes + 63) / 64;
    if (!tree_ok(&c->full))
        return false;
    for (uint64_t w = 0; w < words; w++) /* a full word is never missed */
        if (c->level[0][w] == ~0ULL && !pmm_tree_test(&c->full, w))
            return false;
    for (unsigned k = 0; k < PMM_RUN_CLASSES; k++)
        if (!tree_ok(&c->run[k]))
            return false;
    for (uint64_t g = 0; g < c->ngroups; g++) {
        if (c->gclass[g] > PMM_RUN_CLASSES)
            return false;
        for (unsigned k = 0; k < PMM_RUN_CLASSES; k++)
            if (pmm_tree_test(&c->run[k], g) != (c->gclass[g] > k))
                return false;
        if (pmm_group_class(c, g) > c->gclass[g])
            return false;
        bool q = c->gclass[g] == PMM_RUN_CLASSES &&
                 (g == 0 || c->gclass[g - 1] == PMM_RUN_CLASSES);
        if (q != !!(c->quiet[g >> 6] & pmm_bit(g)))
            return false;
    }
    return true;
}

int pmm_core_check(const struct pmm_core *c)
{
    if (!runs_ok(c))
        return -E_CORRUPT;
    for (unsigned k = 0; k <= c->top; k++) {
        uint64_t words = (c->nbits[k] + 63) / 64;
        if (c->nbits[k] & 63 && c->level[k][words - 1] & pmm_mask_from(c->nbits[k]))
            return -E_CORRUPT; /* padding bits must stay 0 */
        for (uint64_t w = 0; k < c->top && w < words; w++)
            if (!!c->level[k][w] != !!(c->level[k + 1][w >> 6] & pmm_bit(w)))
                return -E_CORRUPT;
    }
    for (uint64_t w = 0; w < c->hint; w++)
        if (c->level[0][w])
            return -E_CORRUPT;
    if (popcount_l0(c, 0, c->nframes) != c->free_frames)
        return -E_CORRUPT;
    /* Every run of free frames lies inside one allocatable range. */
    unsigned r = 0;
    for (uint64_t pos = scan_l0(c, 0, true); pos < c->nframes;) {
        uint64_t end = scan_l0(c, pos, false);
        while (r < c->nranges && c->ranges[r].end < end)
            r++;
        if (r == c->nranges || pos < c->ranges[r].first)
            return -E_CORRUPT;
        pos = scan_l0(c, end, true);
    }
    return 0;
}
