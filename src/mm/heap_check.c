/*
 * kheap_check: walk every heap structure and verify its invariants, and the
 * statistics printer. O(heap size); for tests, the monitor and debugging.
 *
 * Checked: each segment tiles exactly into blocks ending in its epilogue;
 * sizes are multiples of 16 and at least LIST_MIN_BLOCK; HB_PREV_FREE is set
 * exactly after free blocks, whose footers match; no two free blocks touch;
 * the bins hold exactly the free blocks, each in the bin its size maps to,
 * with consistent links and bitmaps, a link checked to lead into a segment
 * before it is followed; each span is mapped unit by unit in the page map,
 * its free list stays inside it, on block boundaries, and with the in-use
 * count adds up to its capacity; no list block is mapped to a span; the
 * class lists (partial and all) and counters, the front's live bytes and the
 * span count agree with the spans found; with hardening, every
 * free small block still has its FREE check word and poison, and every live
 * block its ALLOC check word and canary (counted: as many small blocks carry
 * it as their chunk has in use, as many list blocks as kmalloc has live).
 */
#include <pagoda/errno.h>
#include <pagoda/kfence.h>

#include "heap_internal.h"

#define BAD(...)                                                                                   \
    do {                                                                                           \
        printk("kheap_check: ");                                                                   \
        printk(__VA_ARGS__);                                                                       \
        printk("\n");                                                                              \
        return -E_CORRUPT;                                                                         \
    } while (0)

static inline size_t bsz(const struct hhdr *b)
{
    return b->info & ~(uint64_t)HB_FLAGS;
}

/* cap: the block's capacity (the class size, or the list block's). */
static int check_live_block(const struct heap *h, const void *p, size_t cap)
{
    const struct hhdr *hd = hdr_of(p);
    if ((uint32_t)hd->tag != heap_check_word(h, p, HSTATE_ALLOC))
        BAD("block %p: bad check word", p);
    if ((hd->tag >> 32) > cap)
        BAD("block %p: slack %llu past its %zu bytes", p, (unsigned long long)(hd->tag >> 32), cap);
    uint64_t c;
    memcpy(&c, (const uint8_t *)p + cap - (hd->tag >> 32), sizeof(c));
    if (c != CANARY)
        BAD("block %p: redzone canary overwritten", p);
    return 0;
}

static uint64_t hlive[KHEAP_NCLASSES]; /* per class: blocks with a live check word (under the lock) */

static int check_chunk(const struct heap *h, const struct chunk *ch, uint32_t *chunks_per_class,
                       uint64_t *live_per_class)
{
    if (ch->cls >= KHEAP_NCLASSES)
        BAD("chunk %#lx: bad class", (unsigned long)ch->base);
    const struct bclass *k = &h->cls[ch->cls];
    uintptr_t first = chunk_first(ch);
    /* Blocks from the span's base (block.c), as many as fit before its
     * last 16 bytes. */
    bool usual = first == ch->base && ch->total == k->per_span;
    if (!usual || ch->stride != k->size + h->bhdr || ch->units != k->units ||
        ch->limit != first + (uintptr_t)ch->total * ch->stride ||
        ch->limit > ch->base + (uintptr_t)ch->units * CHUNK_SIZE - HDR_SIZE)
        BAD("chunk %#lx: bad geometry", (unsigned long)ch->base);
    for (uint32_t u = 0; u < ch->units; u++) {
        if (chunk_of(h, (const void *)(ch->base + (uintptr_t)u * CHUNK_SIZE)) != ch)
            BAD("chunk %#lx: unit %u not mapped to it", (unsigned long)ch->base, u);
        /* kfree's fast path reads the map's copies, not the descriptor. */
        if (!map_unit_current(h, ch, u))
            BAD("chunk %#lx: unit %u's copies in the page map are stale", (unsigned long)ch->base,
                u);
    }
    if (ch->carve < first || ch->carve > ch->limit || (ch->carve - first) % ch->stride)
        BAD("chunk %#lx: carve pointer outside its blocks", (unsigned long)ch->base);
    uint32_t nfree = 0;
    for (const void *p = ch->free; p; p = *(void *const *)p) {
        uintptr_t a = (uintptr_t)p - h->bhdr;
        if (a < first || a >= ch->carve || (a - first) % ch->stride)
            BAD("chunk %#lx: free list entry %p not a carved block", (unsigned long)ch->base, p);
        if (++nfree > ch->total)
            BAD("chunk %#lx: free list loops", (unsigned long)ch->base);
        if (span_hole_overlaps(ch, p))
            BAD("chunk %#lx: free block %p lies on a page given back", (unsigned long)ch->base, p);

        if (h->harden) {
            if (hdr_of(p)->tag != heap_check_word(h, p, HSTATE_FREE))
                BAD("free block %p: bad check word (double free or overwrite)", p);
            size_t pend = block_poison_end(h, k->size);
            for (size_t i = 8; i < pend; i++)
                if (((const uint8_t *)p)[i] != POISON_BYTE)
                    BAD("free block %p: poison overwritten at +%zu", p, i);
        }
    }
    uint32_t uncarved = (uint32_t)((ch->limit - ch->carve) / ch->stride);
    if (nfree + ch->used + uncarved + ch->nholed != ch->total)
        BAD("chunk %#lx: %u free + %u used + %u uncarved + %u in holes != %u",
            (unsigned long)ch->base, nfree, ch->used, uncarved, ch->nholed, ch->total);
    for (unsigned pg = 0; pg < ch->units * (CHUNK_SIZE / PAGE_SIZE) && pg < 64; pg++)
        if (((ch->holes >> pg) & 1) &&
            !map_page_decommitted(h, ch->base + ((uintptr_t)pg << PAGE_SHIFT)))
            BAD("chunk %#lx: hole at page %u not in the page map", (unsigned long)ch->base, pg);
    if (!ch->holes && ch->nholed)
        BAD("chunk %#lx: %u blocks in holes, no hole", (unsigned long)ch->base, ch->nholed);
    if (h->harden) { /* every live block's check word and canary */
        uint32_t nlive = 0;
        for (uintptr_t a = first; a < ch->carve; a += ch->stride) {
            const void *p = (const void *)(a + HDR_SIZE);
            if ((uint32_t)hdr_of(p)->tag != heap_check_word(h, p, HSTATE_ALLOC))
                continue;
            if (check_live_block(h, p, k->size))
                return -E_CORRUPT;
            nlive++;
        }
        /* A carved block off the free list with no ALLOC word: overwritten. */
        hlive[ch->cls] += nlive;
        if (nlive > ch->used) /* the rest are in magazines: free, FREE words */
            BAD("chunk %#lx: %u blocks with a live check word, %u in use (a header overwritten?)",
                (unsigned long)ch->base, nlive, ch->used);
    }
#if HEAP_CHECKED
    if (ch->ncarved != (ch->carve - first) / ch->stride)
        BAD("chunk %#lx: carved count wrong", (unsigned long)ch->base);
#endif
    chunks_per_class[ch->cls]++;
    live_per_class[ch->cls] += ch->used;
    return 0;
}

static bool in_pool(const struct heap *h, uintptr_t base)
{
    for (const struct chunk *ch = h->pool; ch; ch = ch->next)
        if (ch->base == base)
            return true;
    return false;
}

static int check_segments(const struct heap *h, size_t *nfree, size_t *free_bytes, uint32_t *chunks,
                          uint64_t *live, size_t *live_list)
{
    for (const struct lseg *s = h->segs; s; s = s->next) {
        const struct hhdr *b = (const struct hhdr *)s->first;
        bool prev_free = false;
        while (bsz(b) != 0) {
            size_t n = bsz(b);
            uintptr_t a = (uintptr_t)b;
            if (n % 16 || n < LIST_MIN_BLOCK || a + n > s->end - HDR_SIZE)
                BAD("block %p: bad size %zu", (const void *)b, n);
            if (!!(b->info & HB_PREV_FREE) != prev_free)
                BAD("block %p: PREV_FREE flag wrong", (const void *)b);
            bool is_free = !(b->info & HB_USED);
            if (is_free) {
                if (prev_free)
                    BAD("block %p: two free blocks touch", (const void *)b);
                if (*(const uint64_t *)(a + n - 8) != n)
                    BAD("free block %p: footer mismatch", (const void *)b);
                (*nfree)++;
                *free_bytes += n;
            } else if (b->info & HB_CHUNK) {
                const struct chunk *ch = chunk_of(h, b + 1);
                /* A remainder too small to split may stay with the span. */
                size_t span = ch ? (size_t)ch->units * CHUNK_SIZE : CHUNK_SIZE;
                if (!IS_ALIGNED(a + HDR_SIZE, (uintptr_t)CHUNK_SIZE) || n < span ||
                    n >= span + LIST_MIN_BLOCK)
                    BAD("chunk block %p: misplaced", (const void *)b);
                if (!ch && in_pool(h, a + HDR_SIZE))
                    chunks[KHEAP_NCLASSES]++;
                else if (!ch || ch->base != a + HDR_SIZE)
                    BAD("chunk block %p: not in the page map or the pool", (const void *)b);
                else if (check_chunk(h, ch, chunks, live))
                    return -E_CORRUPT;
            } else if (chunk_of(h, b + 1) || chunk_of(h, (const uint8_t *)b + n - 1)) {
                BAD("block %p: list memory mapped to a span", (const void *)b);
            } else if (h->harden && (uint32_t)b->tag == heap_check_word(h, b + 1, HSTATE_ALLOC)) {
                if (check_live_block(h, b + 1, n - HDR_SIZE))
                    return -E_CORRUPT;
                (*live_list)++;
            }
            prev_free = is_free;
            b = (const struct hhdr *)(a + n);
        }
        if ((uintptr_t)b != s->end - HDR_SIZE || !(b->info & HB_USED))
            BAD("segment %p: epilogue missing", (const void *)s);
        if (!!(b->info & HB_PREV_FREE) != prev_free)
            BAD("segment %p: epilogue PREV_FREE flag wrong", (const void *)s);
    }
    return 0;
}

static int check_bins(const struct heap *h, size_t *nfree, size_t *free_bytes)
{
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        if (!!(h->fl_bitmap & (1ULL << fl)) != (h->sl_bitmap[fl] != 0))
            BAD("first-level bitmap wrong at %u", fl);
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            const struct lfree *f = h->bins[fl][sl];
            if (!!(h->sl_bitmap[fl] & (1u << sl)) != (f != NULL))
                BAD("second-level bitmap wrong at %u/%u", fl, sl);
            const struct lfree *prev = NULL;
            size_t n = 0;
            for (; f; prev = f, f = f->next) {
                /* First that the link leads into a segment (a write after
                 * free may have replaced it), only then read the block. */
                if (!list_could_be_block(h, (const struct hhdr *)f + 1))
                    BAD("bin %u/%u: link %p leads outside the heap's segments", fl, sl,
                        (const void *)f);
                if (++n > h->free_blocks)
                    BAD("bin %u/%u: list loops", fl, sl);
                unsigned a, b;
                list_map(bsz(&f->h), &a, &b);
                if (f->h.info & HB_USED || a != fl || b != sl || f->prev != prev)
                    BAD("bin %u/%u: block %p misplaced", fl, sl, (const void *)f);
                (*nfree)++;
                *free_bytes += bsz(&f->h);
            }
        }
    }
    return 0;
}

static int check_locked(struct heap *h);

/* A free block in a magazine: hardening's FREE word and poison intact. */
static int check_cached(const struct heap *h, const struct mag *m)
{
    for (uint32_t i = 0; i < MIN(MAG_LD(m->rounds), m->cap); i++) {
        const uint8_t *p = MAG_LD(m->obj[i]);
        if (hdr_of(p)->tag != heap_check_word(h, p, HSTATE_FREE))
            BAD("cached block %p: bad check word (double free or overwrite)", (const void *)p);
        for (size_t j = 8; j < block_poison_end(h, m->size); j++)
            if (p[j] != POISON_BYTE)
                BAD("cached block %p: poison overwritten at +%zu", (const void *)p, j);
    }
    return 0;
}

int kheap_check(void)
{
    if (kfence_check()) /* kfence hook (its own lock, outside the heap's): the canaries */
        return -E_CORRUPT;
    struct heap *h = &kheap;
    spin_lock(&h->lock);
    int rc = check_locked(h);
    spin_unlock(&h->lock);
    return rc;
}

/* Under the heap lock. Blocks in magazines are free but counted in use by
 * their spans: the per-class sums take them out. */
static int check_locked(struct heap *h)
{
    size_t walk_free = 0, walk_bytes = 0, bin_free = 0, bin_bytes = 0, live_list = 0;
    uint32_t chunks[KHEAP_NCLASSES + 1] = {0}; /* + the pool */
    uint64_t live[KHEAP_NCLASSES] = {0};
    size_t small_out = 0;
    memset(hlive, 0, sizeof(hlive));

    if (!h->src)
        return 0; /* bump arena only */
    if (check_segments(h, &walk_free, &walk_bytes, chunks, live, &live_list) ||
        check_bins(h, &bin_free, &bin_bytes))
        return -E_CORRUPT;
    /* Hardened, each kmalloc'd list block has a live check word; one that
     * lost it was overwritten (the heap's own list blocks carry none). */
    if (h->harden && live_list != h->list_live_objects)
        BAD("list blocks: %zu with a live check word, %zu live (a header overwritten?)",
            live_list, h->list_live_objects);
    if (walk_free != bin_free || walk_bytes != bin_bytes || walk_free != h->free_blocks ||
        walk_bytes != h->free_bytes)
        BAD("free blocks: %zu in the blocks, %zu in the bins, %zu counted", walk_free, bin_free,
            h->free_blocks);
    size_t nchunks = 0;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
        nchunks += h->cls[c].nchunks;
    if (nchunks != h->nspans)
        BAD("spans: %zu in the classes, %zu counted", nchunks, h->nspans);
    if (chunks[KHEAP_NCLASSES] != h->npool)
        BAD("%u pooled chunks found, %zu counted", chunks[KHEAP_NCLASSES], h->npool);
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        const struct bclass *k = &h->cls[c];
        uint32_t nall = 0;
        for (const struct chunk *ch = k->all; ch; ch = ch->anext)
            if (ch->cls != c || (ch->anext && ch->anext->aprev != ch) || ++nall > chunks[c])
                BAD("class %u: list of all spans broken at %p", c, (const void *)ch);
        if (chunks[c] != k->nchunks || nall != k->nchunks)
            BAD("class %u: %u spans found, %u listed, %u counted", c, chunks[c], nall,
                k->nchunks);
        size_t cached = mag_cached(h, c);
        for (unsigned i = 0; h->harden && i < SMP_MAX_CPUS; i++)
            if (check_cached(h, heap_fronts[i].loaded[c]) || check_cached(h, heap_fronts[i].prev[c]))
                return -E_CORRUPT;
        int bad = 0;
        depot_lock(&h->depot[c]);
        for (const struct mag *m = h->depot[c].full; h->harden && m && !bad; m = m->next)
            bad = check_cached(h, m);
        spin_unlock(&h->depot[c].lock);
        if (bad)
            return -E_CORRUPT;
        if (cached > live[c] || (h->harden && hlive[c] + cached != live[c]))
            BAD("class %u: %zu cached in magazines, %llu in use in spans, %llu with a live "
                "check word", c, cached, (unsigned long long)live[c], (unsigned long long)hlive[c]);
        small_out += live[c] * k->size;
        const struct chunk *last = NULL;
        for (const struct chunk *ch = k->partial; ch; last = ch, ch = ch->next) {
            if (ch->cls != c || !ch->free || (ch->next && ch->next->prev != ch))
                BAD("class %u: partial list broken at chunk %p", c, (const void *)ch);
            /* (One whose first page is a hole stays until a frame for it is
             * found: span_holes_release.) */
            if (ch->used == 0 && (ch != k->partial || ch->next) && !(ch->holes & 1))
                BAD("class %u: empty chunk %p kept beside others", c, (const void *)ch);
        }
        if (last != k->ptail)
            BAD("class %u: partial list tail wrong", c);
    }
    if (small_out != h->span_out_bytes)
        BAD("small blocks: %zu bytes out of the spans found, %zu counted", small_out,
            h->span_out_bytes);
    return 0;
}

void kheap_print_stats(void)
{
    struct kheap_stats st;
    kheap_stats(&st);
    printk("heap: %zu bytes live in %zu objects (peak %zu); %zu pages held (peak %zu KiB); "
           "%zu KiB free in %zu list blocks; hardening %d; bump %zu/%zu bytes\n",
           st.live_bytes, st.live_objects, st.peak_live_bytes, st.heap_pages,
           st.peak_heap_bytes / 1024, st.list_free_bytes / 1024, st.list_free_blocks, st.harden,
           st.bump_used, st.bump_size);
    printk("heap: %zu grows, %zu shrinks; release policy: %zu KiB idle, next run at %zu KiB "
           "(big blocks: %zu KiB); %zu runs gave back %zu KiB, %zu KiB decommitted now in free "
           "blocks and %zu KiB in spans in use; %zu pooled spans, %zu page-map nodes\n",
           st.grows, st.shrinks, st.idle_bytes / 1024, st.release_at / 1024,
           st.release_big / 1024, st.releases, st.released_bytes / 1024,
           st.decommitted_bytes / 1024, st.span_hole_bytes / 1024, st.pooled_chunks, st.map_nodes);
    printk("heap: %zu magazines hold %zu free blocks (per CPU: the monitor's `cpus`); the CPUs "
           "keep %zu KiB of freed big blocks\n",
           st.mags, st.mag_cached, st.big_kept_bytes / 1024);
    printk("# class  size span-KiB spans   live  capacity  cached\n");
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        const struct kheap_class_stats *k = &st.cls[c];
        if (!k->chunks)
            continue;
        printk("  %5u %5u %8u %5u %6llu %9llu %7llu\n", c, k->size, k->span_bytes / 1024,
               k->chunks, (unsigned long long)k->live, (unsigned long long)k->capacity,
               (unsigned long long)k->cached);
    }
}
