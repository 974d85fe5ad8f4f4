/*
 * Span holes: the free pages inside spans that are still in use, given
 * back to the page source.
 *
 * Theory of operation
 * -------------------
 * A span goes back as a whole only when its last block is freed. After a
 * burst of allocations that mostly died, one survivor pins its whole span:
 * 100,000 blocks of 8 B-2 KiB with 1% surviving left some 1,000 spans of
 * 32 KiB holding a 1 KiB block each. The release policy (heap_release.c)
 * therefore also looks at spans at most a quarter in use, and decommits
 * each page whose blocks are all free: every block that overlaps the page
 * (a block may straddle two pages) is on the span's free list, or already
 * off it for a hole next door. Those blocks leave the free list, so
 * nothing hands them out or writes to them while their page is gone; the
 * page map records the pages (the same bits as the list allocator's,
 * struct hmap_leaf's dmask) and the span its holes (ch->holes, a bit per
 * page, ch->nholed the blocks taken off).
 *
 * Never a hole: the span's last page (it holds the next list block's
 * header), a page with a block above the carve pointer (carve writes
 * there), and the last free block's page (a span on its class's list
 * always has a free block, which span_alloc takes without looking). Only
 * level 0 (hardening keeps a header and poison in every free block) and
 * spans of at most 8 units (64 pages, one word).
 *
 * When the span's free list runs dry (block_dry), span_holes_fill commits
 * the holes again and puts their blocks back. When the span empties and
 * goes to the list allocator, its holes become that allocator's own
 * decommitted interior pages (it commits them before it writes there),
 * after the first page is committed again (a free list block's first page
 * holds its links); such a span never goes to the pool of spans, which
 * carves without committing.
 *
 * kfree must not read a block in a hole (its page may be unmapped). A span
 * with holes has its block-start limits at 0 (block_set_limits), so each
 * of its frees fails kfree's inline tests and goes out of line
 * (kmalloc.c), where the holes word sends a carved block start to its own
 * path: a block that overlaps a hole is called what it is, freed already
 * (a double free); any other is freed as usual, without the lock. A span
 * without holes pays nothing. The word and the test are set before
 * the pages go, so only a kfree that read them just before can still read
 * a block whose page goes away under it, and only for a block already
 * free: a double free racing the release, which faults instead of a report.
 *
 * Cost: a run visits the free list of each candidate span twice and makes
 * one page-source call per run of pages; a refill of holes visits the
 * span's blocks once. A span is a candidate again only once fewer of its
 * blocks are in use than at its last look (ch->holes_seen): the same count
 * in another place can hide a free page until then, but a run does not walk
 * every sparse span again for nothing.
 */
#include "heap_internal.h"

#define HOLES_MAX_UNITS 8 /* pages fit a uint64_t */

/* The pages (bits of a span's holes) that block i overlaps. */
static uint64_t block_pages(const struct chunk *ch, uint32_t i)
{
    uintptr_t lo = chunk_first(ch) + (uintptr_t)i * ch->stride - ch->base;
    uintptr_t hi = lo + ch->stride - 1;
    unsigned a = (unsigned)(lo >> PAGE_SHIFT), b = (unsigned)(hi >> PAGE_SHIFT);
    return (b >= 63 ? ~0ULL : (2ULL << b) - 1) & ~((1ULL << a) - 1);
}

static uint32_t block_index(const struct chunk *ch, const void *p)
{
    return (uint32_t)(((uintptr_t)p - chunk_first(ch)) / ch->stride);
}

bool span_hole_overlaps(const struct chunk *ch, const void *p)
{
    uint64_t holes = MAG_LD(ch->holes);
    return holes && (block_pages(ch, block_index(ch, p)) & holes);
}

/* Set or clear the page map's bits for the span's pages in mask. */
static void mark_pages(struct heap *h, const struct chunk *ch, uint64_t mask, bool set)
{
    for (uint32_t u = 0; u < ch->units; u++) {
        uint8_t m = (uint8_t)(mask >> (u * 8));
        if (!m)
            continue;
        uintptr_t a = ch->base + (uintptr_t)u * CHUNK_SIZE;
        struct hmap_leaf *l = map_leaf(h, a, false); /* the span's own leaf: there */
        unsigned i = (unsigned)(map_key((const void *)a) & (MAP_FAN - 1));
        MAG_ST(l->dmask[i], (uint8_t)(set ? l->dmask[i] | m : l->dmask[i] & ~m));
    }
}

static unsigned popcount64(uint64_t m) /* no libgcc in the kernel */
{
    unsigned n = 0;
    for (; m; m &= m - 1)
        n++;
    return n;
}

size_t span_holes_make(struct heap *h, struct chunk *ch)
{
    if (h->harden || !h->src->commit || ch->units > HOLES_MAX_UNITS || ch->used == 0 ||
        (size_t)ch->used * 4 > ch->total || !ch->free)
        return 0;
    /* Looked at already, and no fewer blocks in use since: most likely no
     * new free page, so the walk below is not paid again on every run. */
    if (ch->holes_seen && ch->used >= ch->holes_seen)
        return 0;
    ch->holes_seen = ch->used;
    /* Which carved blocks are free: on the list, or off it for a hole. */
    uint64_t free_bits[(CHUNK_SIZE / 16 + 63) / 64];
    uint32_t carved = (uint32_t)ch->ncarved;
    if (carved > sizeof(free_bits) * 8)
        return 0;
    memset(free_bits, 0, (carved + 63) / 64 * 8);
    for (const void *p = ch->free; p; p = *(void *const *)p) {
        uint32_t i = block_index(ch, p);
        free_bits[i / 64] |= 1ULL << (i % 64);
    }
    for (uint32_t i = 0; ch->holes && i < carved; i++)
        if (block_pages(ch, i) & ch->holes)
            free_bits[i / 64] |= 1ULL << (i % 64);
    /* Pages whose overlapping blocks are all carved and free. */
    unsigned npages = ch->units * (CHUNK_SIZE / PAGE_SIZE);
    uint64_t cand = 0;
    uint32_t i = 0;
    for (unsigned pg = 0; pg + 1 < npages; pg++) {
        uintptr_t lo = ch->base + ((uintptr_t)pg << PAGE_SHIFT), hi = lo + PAGE_SIZE;
        if (lo < chunk_first(ch) || hi > ch->carve || ((ch->holes >> pg) & 1))
            continue;
        uint32_t i0 = block_index(ch, (const void *)lo);
        uint32_t i1 = block_index(ch, (const void *)(hi - 1));
        bool all = true;
        for (i = i0; i <= i1 && all; i++)
            all = (free_bits[i / 64] >> (i % 64)) & 1;
        if (all)
            cand |= 1ULL << pg;
    }
    /* Keep a free block on the list: drop the highest candidates until one
     * stays. */
    for (; cand; cand &= ~(1ULL << (63 - __builtin_clzll(cand)))) {
        bool stays = false;
        for (const void *p = ch->free; p && !stays; p = *(void *const *)p)
            stays = !(block_pages(ch, block_index(ch, p)) & cand);
        if (stays)
            break;
    }
    if (!cand)
        return 0;
    /* Off the list: the blocks on the new holes' pages, the order kept. */
    void **link = &ch->free;
    uint32_t removed = 0;
    for (void *p = ch->free; p; p = *(void **)p) {
        if (block_pages(ch, block_index(ch, p)) & cand) {
            *link = *(void **)p;
            removed++;
        } else {
            link = (void **)p;
        }
    }
    *link = NULL;
    ch->nholed += removed;
    /* No lock-free kfree reads these blocks from here on (see the top). */
    MAG_ST(ch->holes, ch->holes | cand);
    block_set_limits(h, ch); /* kfree's frees of ch go out of line, to the holes check */
    for (uint64_t m = cand; m;) {
        unsigned a = (unsigned)__builtin_ctzll(m), n = 0;
        while (a + n < 64 && ((m >> (a + n)) & 1))
            n++;
        h->src->shrink(h->src, (void *)(ch->base + ((uintptr_t)a << PAGE_SHIFT)),
                       (size_t)n << PAGE_SHIFT);
        h->shrinks++;
        m &= ~(((n == 64 ? 0 : 1ULL << n) - 1) << a);
    }
    mark_pages(h, ch, cand, true);
    size_t bytes = (size_t)popcount64(cand) << PAGE_SHIFT;
    h->heap_bytes -= bytes;
    h->span_hole_bytes += bytes;
    return bytes;
}

/* Commit the holes in mask, run by run; returns those committed. */
static uint64_t commit_holes(struct heap *h, struct chunk *ch, uint64_t mask)
{
    uint64_t done = 0;
    for (uint64_t m = mask; m;) {
        unsigned a = (unsigned)__builtin_ctzll(m), n = 0;
        while (a + n < 64 && ((m >> (a + n)) & 1))
            n++;
        uint64_t run = ((n == 64 ? 0 : 1ULL << n) - 1) << a;
        if (!h->src->commit(h->src, (void *)(ch->base + ((uintptr_t)a << PAGE_SHIFT)),
                            (size_t)n << PAGE_SHIFT))
            break;
        done |= run;
        m &= ~run;
    }
    mark_pages(h, ch, done, false);
    size_t bytes = (size_t)popcount64(done) << PAGE_SHIFT;
    h->heap_bytes += bytes;
    h->span_hole_bytes -= bytes;
    return done;
}

bool span_holes_fill(struct heap *h, struct chunk *ch)
{
    uint64_t old = ch->holes;
    if (!old)
        return false;
    uint64_t done = commit_holes(h, ch, old);
    uint64_t left = old & ~done;
    bool any = false;
    for (uint32_t i = 0; i < (uint32_t)ch->ncarved; i++) {
        uint64_t pages = block_pages(ch, i);
        if ((pages & old) && !(pages & left)) {
            block_push_free(h, ch, (void *)(chunk_first(ch) + (uintptr_t)i * ch->stride));
            ch->nholed--;
            any = true;
        }
    }
    MAG_ST(ch->holes, left);
    block_set_limits(h, ch); /* the fast path again once the holes are gone */
    if (any)
        ch->holes_seen = 0; /* its blocks move again: worth a look at any count */
    return any;
}

bool span_holes_release(struct heap *h, struct chunk *ch)
{
    uint64_t holes = ch->holes;
    if (!holes)
        return true;
    /* The first page holds the free list block's links: committed first. */
    if ((holes & 1) && !(commit_holes(h, ch, 1) & 1))
        return false;
    holes &= ~1ULL;
    /* The rest become the list allocator's decommitted interior pages. */
    size_t bytes = (size_t)popcount64(holes) << PAGE_SHIFT;
    h->span_hole_bytes -= bytes;
    h->decommitted += bytes;
    MAG_ST(ch->holes, 0);
    ch->nholed = 0;
    return true;
}

size_t span_holes_scan(struct heap *h)
{
    size_t bytes = 0;
    if (h->harden || !h->src->commit)
        return 0;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
        for (struct chunk *ch = h->cls[c].all; ch; ch = ch->anext)
            bytes += span_holes_make(h, ch);
    return bytes;
}
