/*
 * The list allocator: every request above KHEAP_SMALL_MAX, every aligned
 * request, and the chunks that feed the small-block classes.
 *
 * Structure. Memory comes from the page source in segments. A segment is
 *   [struct lseg][block][block]...[block][epilogue header: size 0, USED]
 * and its blocks tile it in address order: each block starts with a 16-byte
 * header holding its size and flags (the boundary tags), so the next block is
 * at hdr + size. A free block also keeps its size in its last 8 bytes (the
 * footer), and the block after it carries HB_PREV_FREE, so free() finds the
 * previous block in O(1) when, and only when, it is free. The address-ordered
 * list of blocks is thus implicit; kheap_check walks it.
 *
 * Index. Free blocks are also linked into segregated bins, two-level as in
 * TLSF: the first level is the power of two of the size (linear 16-byte steps
 * below 256 bytes), the second splits it in 16. A bitmap per level finds the
 * smallest non-empty bin that is big enough with two bit scans, so the cost
 * of alloc and free does not depend on how many free blocks exist. A request
 * is rounded up to its bin's upper bound before the search, so any block in
 * the bin found fits (good fit, not best fit).
 *
 * Invariants: no two free blocks are adjacent (free coalesces both
 * neighbours); every free block is in exactly the bin its size maps to; the
 * first block of a segment never has HB_PREV_FREE.
 *
 * Alignment: an aligned request first tries a block of about its own size
 * (one that already sits on the boundary, such as a chunk given back), then
 * searches for size + align + MIN_BLOCK, puts the payload on the boundary,
 * and frees the front gap as a block of its own (a gap smaller than a block
 * is avoided by moving one more alignment step), so padding never leaks. The
 * tail beyond the request is split off likewise.
 *
 * Growth: when no bin fits, the source grows by at least LIST_GROW_MIN; memory
 * contiguous with an existing segment extends it (the old epilogue becomes
 * the new free block's header). Giving back is the release policy's job
 * (heap_release.c): a run cuts every free segment tail back to
 * LIST_TRIM_KEEP and returns the pages beyond to the source, and decommits
 * the interior pages of big free blocks; kheap_trim gives back every free
 * tail, and whole free segments.
 *
 * The cache (list_cache.c): big blocks freed lately wait there whole, for
 * a plain request of about their size; a request no bin fits empties it.
 *
 * Cost: alloc, free, split and coalesce O(1); growth is a source call.
 * Weaknesses: good fit wastes up to 1/16 of a block's bin range on search;
 * segments only give back tails, never holes in their middle; no locking.
 */
#include "heap_internal.h"

#define LIST_GROW_MIN KiB(64)

static inline size_t bsize(const struct hhdr *b)
{
    return b->info & ~(uint64_t)HB_FLAGS;
}
static inline struct hhdr *bnext(struct hhdr *b)
{
    return (struct hhdr *)((uintptr_t)b + bsize(b));
}
static inline void set_footer(struct hhdr *b)
{
    *(uint64_t *)((uintptr_t)b + bsize(b) - 8) = bsize(b);
}

void list_map(size_t size, unsigned *fl, unsigned *sl)
{
    if (size < (1u << FL_SHIFT)) {
        *fl = 0;
        *sl = (unsigned)(size >> 4);
    } else {
        unsigned f = 63u - (unsigned)__builtin_clzll(size);
        *fl = f - FL_SHIFT + 1;
        *sl = (unsigned)(size >> (f - SL_LOG)) & (SL_COUNT - 1);
    }
}

static void bin_insert(struct heap *h, struct hhdr *b)
{
    unsigned fl, sl;
    list_map(bsize(b), &fl, &sl);
    struct lfree *f = (struct lfree *)b, *head = h->bins[fl][sl];
    f->prev = NULL;
    f->next = head;
    if (head)
        head->prev = f;
    h->bins[fl][sl] = f;
    h->fl_bitmap |= 1ULL << fl;
    h->sl_bitmap[fl] |= 1u << sl;
    h->free_bytes += bsize(b);
    h->free_blocks++;
}

static void bin_remove(struct heap *h, struct hhdr *b)
{
    unsigned fl, sl;
    list_map(bsize(b), &fl, &sl);
    struct lfree *f = (struct lfree *)b;
    if (f->next)
        f->next->prev = f->prev;
    if (f->prev)
        f->prev->next = f->next;
    else {
        h->bins[fl][sl] = f->next;
        if (!f->next) {
            h->sl_bitmap[fl] &= ~(1u << sl);
            if (!h->sl_bitmap[fl])
                h->fl_bitmap &= ~(1ULL << fl);
        }
    }
    h->free_bytes -= bsize(b);
    h->free_blocks--;
}

/* size rounded up to the top of its bin: every block in the bin it then
 * maps to is at least that big. */
static size_t bin_round(size_t size)
{
    if (size >= (1u << FL_SHIFT)) {
        unsigned f = 63u - (unsigned)__builtin_clzll(size);
        size += (1ULL << (f - SL_LOG)) - 1;
    }
    return size;
}

/* A free block of at least `size` bytes, taken out of its bin, or NULL. */
static struct hhdr *bin_take(struct heap *h, size_t size)
{
    size = bin_round(size);
    unsigned fl, sl;
    list_map(size, &fl, &sl);
    if (fl >= FL_COUNT)
        return NULL;
    uint32_t slmap = h->sl_bitmap[fl] & (~0u << sl);
    if (!slmap) {
        uint64_t flmap = fl + 1 < 64 ? h->fl_bitmap & (~0ULL << (fl + 1)) : 0;
        if (!flmap)
            return NULL;
        fl = (unsigned)__builtin_ctzll(flmap);
        slmap = h->sl_bitmap[fl];
    }
    sl = (unsigned)__builtin_ctz(slmap);
    struct hhdr *b = &h->bins[fl][sl]->h;
    bin_remove(h, b);
    return b;
}

/* Make b (already out of the bins, or new) a free block: flags, footer, the
 * next block's PREV_FREE, its bin. Coalesces with both neighbours. */
static struct hhdr *make_free(struct heap *h, struct hhdr *b)
{
    struct hhdr *n = bnext(b);
    if (!(n->info & HB_USED)) { /* merge the next block */
        bin_remove(h, n);
        b->info = (b->info & HB_PREV_FREE) | (bsize(b) + bsize(n));
    }
    if (b->info & HB_PREV_FREE) { /* merge the previous block */
        struct hhdr *p = (struct hhdr *)((uintptr_t)b - *(uint64_t *)((uintptr_t)b - 8));
        bin_remove(h, p);
        p->info = (p->info & HB_PREV_FREE) | (bsize(p) + bsize(b));
        b = p;
    }
    b->info &= ~(uint64_t)(HB_USED | HB_CHUNK);
    set_footer(b);
    bnext(b)->info |= HB_PREV_FREE;
    bin_insert(h, b);
    return b;
}

static struct lseg *seg_of(struct heap *h, uintptr_t a)
{
    for (struct lseg *s = h->segs; s; s = s->next)
        if (a >= s->start && a < s->end)
            return s;
    return NULL;
}

bool list_contains(const struct heap *h, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (a < h->lo || a >= h->hi)
        return false;
    return seg_of((struct heap *)h, a) != NULL;
}

bool list_could_be_block(const struct heap *h, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if ((a & 15) || a - h->lo >= h->hi - h->lo)
        return false;
    const struct lseg *s = seg_of((struct heap *)h, a);
    return s && a >= s->first + HDR_SIZE && a + LIST_MIN_BLOCK - HDR_SIZE <= s->end - HDR_SIZE &&
           !map_page_decommitted(h, a - HDR_SIZE) && !map_page_decommitted(h, a);
}

/* kfree reads the bounds without the lock: stored once each, whole. Lower
 * first when growing, so a reader never sees a range that misses a live
 * block (the bounds only grow while blocks are live in them). */
static void bounds_update(struct heap *h)
{
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (struct lseg *s = h->segs; s; s = s->next) {
        lo = MIN(lo, s->start);
        hi = MAX(hi, s->end);
    }
    MAG_ST(h->lo, lo);
    MAG_ST(h->hi, hi);
}

/* Ask the source for room for a block of `need` bytes. */
static bool grow(struct heap *h, size_t need)
{
    if (!h->src || need > LIST_MAX_ALLOC)
        return false;
    size_t bytes = bin_round(need) + SEG_OVERHEAD;
    bytes = ALIGN_UP(MAX(bytes, (size_t)LIST_GROW_MIN), (size_t)PAGE_SIZE);
    uintptr_t m = (uintptr_t)h->src->grow(h->src, bytes);
    if (!m)
        return false;
    h->grows++;
    h->heap_bytes += bytes;
    h->peak_heap_bytes = MAX(h->peak_heap_bytes, h->heap_bytes);
    for (struct lseg *s = h->segs; s; s = s->next) {
        if (s->end != m)
            continue;
        /* Contiguous: the old epilogue becomes the header of a free block. */
        struct hhdr *b = (struct hhdr *)(m - HDR_SIZE);
        b->info = (b->info & HB_PREV_FREE) | bytes;
        s->end = m + bytes;
        struct hhdr *epi = (struct hhdr *)(s->end - HDR_SIZE);
        epi->info = HB_USED;
        make_free(h, b);
        bounds_update(h);
        return true;
    }
    struct lseg *s = (struct lseg *)m; /* a new segment */
    s->start = m;
    s->end = m + bytes;
    s->first = m + sizeof(struct lseg);
    s->next = h->segs;
    h->segs = s;
    struct hhdr *b = (struct hhdr *)s->first;
    b->info = s->end - HDR_SIZE - s->first;
    struct hhdr *epi = (struct hhdr *)(s->end - HDR_SIZE);
    epi->info = HB_USED;
    make_free(h, b);
    bounds_update(h);
    return true;
}

/* Give back the pages beyond `keep` bytes of a free block of at least
 * `at` bytes that ends its segment. Returns the bytes given back. */
static size_t trim(struct heap *h, struct hhdr *b, size_t at, size_t keep)
{
    if (bsize(b) < at || !h->src->shrink || bsize(bnext(b)) != 0)
        return 0;
    struct lseg *s = seg_of(h, (uintptr_t)b);
    if (!s || (uintptr_t)bnext(b) != s->end - HDR_SIZE)
        return 0;
    uintptr_t cut =
        ALIGN_UP((uintptr_t)b + MAX(keep, (size_t)LIST_MIN_BLOCK + HDR_SIZE), (uintptr_t)PAGE_SIZE);
    if (cut >= s->end)
        return 0;
    if (!heap_commit(h, cut - PAGE_SIZE, cut)) /* the new footer and epilogue go there */
        return 0;
    size_t bytes = s->end - cut;
    heap_forget_decommitted(h, cut, s->end);
    bin_remove(h, b);
    b->info = (b->info & HB_PREV_FREE) | (cut - HDR_SIZE - (uintptr_t)b);
    set_footer(b);
    bin_insert(h, b);
    struct hhdr *epi = (struct hhdr *)(cut - HDR_SIZE);
    epi->info = HB_USED | HB_PREV_FREE;
    s->end = cut;
    h->src->shrink(h->src, (void *)cut, bytes);
    h->shrinks++;
    h->heap_bytes -= bytes;
    bounds_update(h);
    return bytes;
}

size_t list_trim_all(struct heap *h, size_t keep)
{
    size_t n = 0;
    if (!h->src || !h->src->shrink)
        return 0;
    for (struct lseg **pp = &h->segs, *s; (s = *pp) != NULL;) {
        struct hhdr *epi = (struct hhdr *)(s->end - HDR_SIZE);
        if (!(epi->info & HB_PREV_FREE)) {
            pp = &s->next;
            continue;
        }
        struct hhdr *b = (struct hhdr *)((uintptr_t)epi - *(uint64_t *)((uintptr_t)epi - 8));
        if ((uintptr_t)b != s->first || keep) {
            n += trim(h, b, 0, keep);
            pp = &s->next;
            continue;
        }
        /* The whole segment is free: give all of it back. */
        size_t bytes = s->end - s->start;
        heap_forget_decommitted(h, s->start, s->end);
        bin_remove(h, b);
        *pp = s->next;
        h->src->shrink(h->src, (void *)s->start, bytes);
        h->shrinks++;
        h->heap_bytes -= bytes;
        n += bytes;
    }
    bounds_update(h);
    return n;
}

/* Cut b (in use, size >= want) down to `want` bytes, freeing the rest. */
static void split_tail(struct heap *h, struct hhdr *b, size_t want)
{
    size_t rest = bsize(b) - want;
    if (rest < LIST_MIN_BLOCK) {
        bnext(b)->info &= ~(uint64_t)HB_PREV_FREE;
        return;
    }
    b->info = (b->info & HB_FLAGS) | want;
    struct hhdr *t = bnext(b);
    t->info = rest | HB_USED;
    make_free(h, t);
}

void *list_alloc(struct heap *h, size_t size, size_t align, size_t off)
{
    if (size > LIST_MAX_ALLOC)
        return NULL;
    size_t want = MAX(ALIGN_UP(size + HDR_SIZE, (size_t)16), (size_t)LIST_MIN_BLOCK);
    bool plain = align <= 16 && off % 16 == 0;
    size_t search = plain ? want : want + align + LIST_MIN_BLOCK;
    struct hhdr *b = NULL;
    if (plain && (b = list_cache_take(h, want)) != NULL) {
        /* Committed (only binned blocks are decommitted, and a full run
         * empties the cache first), still flagged USED, its neighbours'
         * flags right: nothing to redo. */
        h->used_blocks++;
        return (void *)((uintptr_t)b + HDR_SIZE);
    }
    if (!plain && (b = bin_take(h, want)) != NULL) {
        /* A block of about the right size may already sit on the boundary
         * (a chunk given back, say): take it if the aligned part fits. */
        uintptr_t pay = (uintptr_t)b + HDR_SIZE;
        uintptr_t at = ALIGN_UP(pay - off, (uintptr_t)align) + off;
        if (!((at == pay || at - pay >= LIST_MIN_BLOCK) && at - pay + want <= bsize(b))) {
            bin_insert(h, b);
            b = NULL;
        }
    }
    if (!b)
        b = bin_take(h, search);
    if (!b && list_cache_flush(h)) /* merged, the cache may make room */
        b = bin_take(h, search);
    if (!b) {
        /* The source refusing to grow is the heap's "memory is short": give
         * idle memory back (it may also make room here) and try once more. */
        bool grown = grow(h, search);
        if (!grown) {
            heap_release_run(h, true);
            if (!(b = bin_take(h, search)))
                grown = grow(h, search);
        }
        if (!b && grown)
            b = bin_take(h, search);
        if (!b)
            return NULL;
    }
    /* The part written from here on (payload, the front gap's footer, the
     * tail's header and links) must be backed; the rest may stay decommitted. */
    if (!heap_commit(h, (uintptr_t)b,
                     (uintptr_t)b + MIN(bsize(b), search + LIST_MIN_BLOCK + HDR_SIZE))) {
        bin_insert(h, b);
        return NULL;
    }
    b->info |= HB_USED;
    if (!plain) {
        uintptr_t pay = (uintptr_t)b + HDR_SIZE;
        uintptr_t at = ALIGN_UP(pay - off, (uintptr_t)align) + off;
        while (at != pay && at - pay < LIST_MIN_BLOCK)
            at += align;
        if (at != pay) { /* the front gap becomes a free block of its own */
            size_t gap = at - pay;
            struct hhdr *nb = (struct hhdr *)(at - HDR_SIZE);
            nb->info = (bsize(b) - gap) | HB_USED;
            b->info = gap | (b->info & HB_PREV_FREE) | HB_USED;
            make_free(h, b); /* its previous neighbour is in use: no merge */
            nb->info |= HB_PREV_FREE;
            b = nb;
        }
    }
    split_tail(h, b, want);
    h->used_blocks++;
    return (void *)((uintptr_t)b + HDR_SIZE);
}

void list_free(struct heap *h, void *p)
{
    struct hhdr *b = hdr_of(p);
    h->used_blocks--;
    if (!list_cache_put(h, b))
        make_free(h, b); /* a free tail goes back when the release policy runs */
}

bool list_resize(struct heap *h, void *p, size_t size)
{
    struct hhdr *b = hdr_of(p);
    if (size > LIST_MAX_ALLOC)
        return false;
    size_t want = MAX(ALIGN_UP(size + HDR_SIZE, (size_t)16), (size_t)LIST_MIN_BLOCK);
    if (want > bsize(b)) {
        struct hhdr *n = bnext(b);
        if ((n->info & HB_USED) || bsize(b) + bsize(n) < want)
            return false;
        if (!heap_commit(h, (uintptr_t)n,
                         (uintptr_t)n + MIN(bsize(n), want - bsize(b) + LIST_MIN_BLOCK + HDR_SIZE)))
            return false;
        bin_remove(h, n);
        b->info += bsize(n);
    }
    split_tail(h, b, want);
    return true;
}

void list_init(struct heap *h)
{
    h->fl_bitmap = 0;
    memset(h->sl_bitmap, 0, sizeof(h->sl_bitmap));
    memset(h->bins, 0, sizeof(h->bins));
    h->segs = NULL;
    MAG_ST(h->lo, UINTPTR_MAX);
    MAG_ST(h->hi, 0);
    list_cache_reset();
}

void list_free_block(struct heap *h, struct hhdr *b)
{
    make_free(h, b);
}
