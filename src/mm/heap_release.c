/*
 * The release policy: how the heap gives idle memory back on its own.
 *
 * Idle memory is what the heap holds but nobody uses: committed bytes of
 * free list blocks, pooled one-unit spans, and spans kept empty for their
 * class (counted when they empty; an over-estimate until the next run,
 * which recounts them). heap_release_check runs on the paths where idle
 * memory grows (a list block freed, a span emptied) and costs two compares.
 * When idle memory passes `release_at`, a run:
 *   0. flushes the depot's magazines back to their spans (heap_mag.c);
 *   1. gives the pool and every empty span to the list allocator, where
 *      they merge with their free neighbours, and the heap's own empty
 *      descriptor slabs back (kheap_trim's first steps): a descriptor page
 *      lies among the spans it described, so kept, it splits their freed
 *      memory into blocks whose committed ends stay (after a burst of 8 B
 *      to 2 KiB, 2.5 MiB held kept them, 1.7 MiB reaped them). A class's kept
 *      span (its only partial one, empty) stays when the class is hot: it
 *      came back for a new span within HOT_WINDOW runs of a run taking its
 *      last one, so giving it back again would only buy a refill and a
 *      commit of up to 544 KiB on its next allocation. A hot class keeps
 *      its span for HOT_RUNS runs, then gets a fresh trial. The kept spans
 *      that stay are still idle memory (counted, so the next run waits for
 *      more); kheap_release(true) and kheap_trim take them all;
 *   2. decommits the interior pages of free list blocks, largest first,
 *      until idle memory is down to the low mark (half of max(1 MiB,
 *      live / 4), whatever the floor below has adapted to): each
 *      run of committed pages goes to the source's shrink, and the page map
 *      records them (a byte per 32 KiB unit), so that the list allocator
 *      commits them again before it writes there (heap_commit). A free
 *      block's first 8 KiB and last page stay committed: they hold its
 *      header, bin links and footer, and a small request carved from the
 *      block's start (a slab page, say) then takes no frame.
 * The run also cuts free segment tails back to LIST_TRIM_KEEP first. The
 * list allocator's cache of big blocks freed lately (list_cache.c, at most
 * 4 MiB) stays through a normal run, like a hot class's span: it is the
 * working set of big alloc/free pairs, counted as idle so that the next
 * run waits beyond it; kheap_release(true) empties it into the bins first.
 * Hysteresis: the threshold is max(1 MiB, live / 4, twice the biggest list
 * block freed lately (up to 16 MiB)), the low mark half of max(1 MiB,
 * live / 4); after a run the next one waits until idle memory passes what
 * remained plus the threshold, so idle memory the run could not give back
 * (no commit in the source, small holes) never triggers run after run. The
 * big-block term keeps a workload that allocates and frees one big block
 * from giving it back and taking it again on every pair; each run halves
 * it, so it fades once such blocks stop coming. kheap_release(true) runs
 * everything now, and the list allocator does so when its source refuses
 * to grow: in the kernel, that is the PMM running low.
 *
 * At most one empty span per class (about 6 MiB over all classes) is kept
 * this way; without it, pairs of 4 KiB..1 MiB over a small heap released
 * and took back some 30 pages per pair.
 * Cost: a run is O(classes + spans released + free blocks visited + pages
 * decommitted); the check on the free paths is O(1).
 * Weakness: decommitting and recommitting a page costs a page-table update
 * and a TLB flush in the kernel; hysteresis keeps that off steady states.
 */
#include "heap_internal.h"

#define RELEASE_FLOOR MiB(1)
#define RELEASE_BIG_MAX MiB(16)
#define RELEASE_KEEP_HEAD KiB(8)
#define RELEASE_MIN_BLOCK (RELEASE_KEEP_HEAD + 4 * PAGE_SIZE) /* smaller: too little to give */

size_t heap_idle_bytes(const struct heap *h)
{
    return h->free_bytes - MIN(h->decommitted, h->free_bytes) + h->npool * CHUNK_SIZE +
           h->idle_noted + list_cached_bytes(h);
}

static size_t threshold(struct heap *h)
{
    size_t live = heap_out_bytes(h);
    return MAX(MAX((size_t)RELEASE_FLOOR, live / 4), MIN(2 * h->big_free, (size_t)RELEASE_BIG_MAX));
}

size_t heap_release_at(struct heap *h)
{
    return h->idle_after + threshold(h);
}

void heap_note_big_free(struct heap *h, size_t bytes)
{
    if (bytes > h->big_free)
        h->big_free = bytes;
}

void heap_release_check(struct heap *h)
{
    size_t idle = heap_idle_bytes(h);
    if (likely(idle <= h->idle_after + RELEASE_FLOOR)) /* below every threshold */
        return;
    if (idle > heap_release_at(h) && !h->releasing && h->src) {
        /* On a free path of this CPU: its magazines can go back too (the
         * list allocator's own runs, inside a refill, leave them). */
        h->releasing = true;
        mag_cpu_drain(h);
        h->releasing = false;
        heap_release_run(h, false);
    }
}

size_t kheap_release(bool all)
{
    if (!kheap.src)
        return 0;
    if (all)
        kheap_mag_drain(); /* this CPU's magazines too */
    spin_lock(&kheap.lock);
    size_t n = heap_release_run(&kheap, all);
    spin_unlock(&kheap.lock);
    return n;
}

/* Walk [a, b) unit by unit, calling fn on each unit's leaf with the mask of
 * the unit's pages inside the range. */
static bool for_units(struct heap *h, uintptr_t a, uintptr_t b, bool make,
                      bool (*fn)(struct heap *, struct hmap_leaf *, unsigned, uint8_t, uintptr_t))
{
    for (uintptr_t u = ALIGN_DOWN(a, (uintptr_t)CHUNK_SIZE); u < b; u += CHUNK_SIZE) {
        uintptr_t lo = MAX(a, u), hi = MIN(b, u + CHUNK_SIZE);
        unsigned first = (unsigned)((lo - u) >> PAGE_SHIFT);
        unsigned last = (unsigned)((hi - u + PAGE_SIZE - 1) >> PAGE_SHIFT);
        uint8_t mask = (uint8_t)(((1u << last) - 1) & ~((1u << first) - 1));
        struct hmap_leaf *l = map_leaf(h, u, make);
        if (!l) {
            if (make)
                return false;
            continue;
        }
        if (!fn(h, l, (unsigned)(map_key((const void *)u) & (MAP_FAN - 1)), mask, u))
            return false;
    }
    return true;
}

/* Commit the decommitted pages of one unit under mask. */
static bool commit_unit(struct heap *h, struct hmap_leaf *l, unsigned i, uint8_t mask,
                        uintptr_t u)
{
    uint8_t need = l->dmask[i] & mask;
    while (need) {
        unsigned p = (unsigned)__builtin_ctz(need), n = 0;
        while (p + n < 8 && (need >> (p + n)) & 1)
            n++;
        if (!h->src->commit(h->src, (void *)(u + ((uintptr_t)p << PAGE_SHIFT)),
                            (size_t)n << PAGE_SHIFT))
            return false;
        uint8_t run = (uint8_t)(((1u << n) - 1) << p);
        l->dmask[i] &= (uint8_t)~run;
        need &= (uint8_t)~run;
        h->decommitted -= (size_t)n << PAGE_SHIFT;
        h->heap_bytes += (size_t)n << PAGE_SHIFT;
    }
    return true;
}

bool heap_commit(struct heap *h, uintptr_t a, uintptr_t b)
{
    if (!h->decommitted || a >= b)
        return true;
    return for_units(h, ALIGN_DOWN(a, (uintptr_t)PAGE_SIZE), b, false, commit_unit);
}

static unsigned bits8(uint8_t m) /* no libgcc in the kernel: no __builtin_popcount */
{
    unsigned n = 0;
    for (; m; m &= (uint8_t)(m - 1))
        n++;
    return n;
}

static bool forget_unit(struct heap *h, struct hmap_leaf *l, unsigned i, uint8_t mask,
                        uintptr_t u)
{
    size_t n = (size_t)bits8(l->dmask[i] & mask);
    h->decommitted -= n << PAGE_SHIFT;
    h->heap_bytes += n << PAGE_SHIFT; /* the caller's shrink subtracts the whole range */
    l->dmask[i] &= (uint8_t)~mask;
    return true;
}

void heap_forget_decommitted(struct heap *h, uintptr_t a, uintptr_t b)
{
    if (h->decommitted && a < b)
        for_units(h, a, b, false, forget_unit);
}

static bool decommit_unit(struct heap *h, struct hmap_leaf *l, unsigned i, uint8_t mask,
                          uintptr_t u)
{
    uint8_t todo = (uint8_t)(mask & ~l->dmask[i]);
    while (todo) {
        unsigned p = (unsigned)__builtin_ctz(todo), n = 0;
        while (p + n < 8 && (todo >> (p + n)) & 1)
            n++;
        h->src->shrink(h->src, (void *)(u + ((uintptr_t)p << PAGE_SHIFT)), (size_t)n << PAGE_SHIFT);
        uint8_t run = (uint8_t)(((1u << n) - 1) << p);
        l->dmask[i] |= run;
        todo &= (uint8_t)~run;
        h->decommitted += (size_t)n << PAGE_SHIFT;
        h->heap_bytes -= (size_t)n << PAGE_SHIFT;
        h->shrinks++;
    }
    return true;
}

/* Decommit the interior pages of free block b (its header at b); keep_head:
 * bytes at its start that stay committed. */
static void decommit_block(struct heap *h, const struct lfree *f, size_t keep_head)
{
    uintptr_t a = (uintptr_t)f, size = f->h.info & ~(uint64_t)HB_FLAGS;
    /* The first RELEASE_KEEP_HEAD bytes stay committed: small allocations
     * carved from the block's start (a slab page, a span's descriptor page)
     * then take no frame, and a run does not make every later small request
     * a page-table update. */
    uintptr_t lo = ALIGN_UP(a + MAX(keep_head, sizeof(struct lfree)), (uintptr_t)PAGE_SIZE);
    uintptr_t hi = ALIGN_DOWN(a + size - 8, (uintptr_t)PAGE_SIZE);
    if (lo < hi)
        for_units(h, lo, hi, false, decommit_unit); /* no leaf: those pages stay */
}

/* Which classes keep their empty span through a run (see the top). A
 * kheap_init zeroes h->releases, which resets this too. */
#define HOT_WINDOW 8 /* runs: a class back for a span this soon after losing one is hot */
#define HOT_RUNS 64  /* runs a hot class keeps its empty span */
static struct {
    uint32_t lost[KHEAP_NCLASSES];     /* the run (1-based) that last took its kept span */
    uint32_t hot_until[KHEAP_NCLASSES]; /* keep its empty span through this run */
} spans_seen;

/* Step 1 of a run: the pool, every empty span that is not its class's
 * only partial one, and the kept spans of classes that are not hot. */
static void release_spans(struct heap *h, bool all)
{
    if (h->releases == 0)
        memset(&spans_seen, 0, sizeof(spans_seen));
    uint32_t run = (uint32_t)h->releases + 1;
    h->idle_noted = 0; /* recounted below: the kept spans that stay */
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        struct bclass *k = &h->cls[c];
        for (struct chunk *ch = k->all; ch; ch = ch->anext)
            ch->noted = 0;
        struct chunk *ch = k->partial;
        if (all || !ch || ch->used || ch->next) /* not kept (all: block_release_empty) */
            continue;
        if (spans_seen.hot_until[c] < run && spans_seen.lost[c] &&
            run - spans_seen.lost[c] <= HOT_WINDOW)
            spans_seen.hot_until[c] = run + HOT_RUNS; /* back for a span: its working set */
        if (spans_seen.hot_until[c] >= run) {
            ch->noted = 1; /* still idle: counted, so that the next run waits for more */
            h->idle_noted += (size_t)ch->units * CHUNK_SIZE;
            continue;
        }
        spans_seen.lost[c] = run;
        block_release(h, ch);
    }
    block_release_empty(h, all); /* the others, the pool (all: the kept spans too) */
}

size_t heap_release_run(struct heap *h, bool all)
{
    if (h->releasing || !h->src)
        return 0;
    h->releasing = true;
    size_t held0 = h->heap_bytes;
    mag_depot_drain(h); /* the depot's blocks back to their spans first */
    if (all) /* its blocks merge, and can then be decommitted */
        list_cache_flush(h);
    release_spans(h, all);
    span_holes_scan(h); /* the free pages of spans still in use */
    slab_chunk_desc_reap();
    list_trim_all(h, LIST_TRIM_KEEP);
    /* Down to half the base threshold: the big-block term only delays runs. */
    size_t live = heap_out_bytes(h);
    size_t low = all ? 0 : MAX((size_t)RELEASE_FLOOR, live / 4) / 2;
    if (h->src->commit) {
        /* Every leaf first: making one allocates, which must not happen
         * while a free block is being decommitted (it could land there). */
        bool more = true;
        for (int pass = 0; more && pass < 4; pass++) {
            more = false;
            size_t segs0 = h->grows;
            for (const struct lseg *sg = h->segs; sg; sg = sg->next)
                for (uintptr_t a = sg->start; a < sg->end;
                     a = ALIGN_DOWN(a, (uintptr_t)CHUNK_SIZE << MAP_LEVEL_BITS) +
                         ((uintptr_t)CHUNK_SIZE << MAP_LEVEL_BITS))
                    map_leaf(h, a, true);
            more = h->grows != segs0; /* a node grew the heap: cover that too */
        }
        /* Largest bins first: their blocks have the most interior pages. */
        for (int fl = FL_COUNT - 1; fl >= 0 && heap_idle_bytes(h) > low; fl--) {
            if (!(h->fl_bitmap & (1ULL << fl)))
                continue;
            for (int sl = SL_COUNT - 1; sl >= 0 && heap_idle_bytes(h) > low; sl--)
                for (const struct lfree *f = h->bins[fl][sl]; f && heap_idle_bytes(h) > low; f = f->next)
                    if (all || (f->h.info & ~(uint64_t)HB_FLAGS) >= RELEASE_MIN_BLOCK)
                        decommit_block(h, f, all ? 0 : RELEASE_KEEP_HEAD);
        }
    }
    h->releases++;
    size_t given = held0 > h->heap_bytes ? held0 - h->heap_bytes : 0;
    h->released += given;
    h->big_free /= 2; /* a big block freed long ago says less each run */
    h->idle_after = heap_idle_bytes(h);
    h->releasing = false;
    return given;
}
