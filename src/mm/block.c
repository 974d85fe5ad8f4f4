/*
 * Fixed-size blocks: the small-request layer (up to KHEAP_SMALL_MAX bytes).
 *
 * Classes. 68 payload sizes: 16..256 in steps of 16, then eight steps per
 * power of two up to 2 KiB (288, 320, ... 512, 576 ... 1024, 1168, 1296,
 * 1424, 1552, 1712, 1808, 1920, 2048), then four per power of two up to
 * 256 KiB (2560, 3072, 3584, 4096, 5120, ... 65536, 81920, ... 262144).
 * Rounding wastes at most 1/7 of a request up to 2 KiB and 1/4 above.
 * heap_class_of maps (size + 15) / 16 to a class in one load (a 16 KiB
 * table, of which the small sizes touch the first lines). The classes above
 * 64 KiB are there for the kernel's buffers of a few pages to a quarter
 * megabyte (a page-table batch, an I/O buffer, a copy): a pair of them is a
 * magazine pop and push, where the list allocator took a lock and a few
 * hundred instructions.
 *
 * Spans. A class carves its blocks out of spans of 1..SPAN_MAX_UNITS whole
 * CHUNK_SIZE (32 KiB) units, each span a list block flagged HB_CHUNK whose
 * payload starts on a unit: its list header is the last 16 bytes of the
 * unit before, and the span's own last 16 bytes are left to the next list
 * block's header. Blocks start at the span's base, so every block of a
 * class whose size is a multiple of a power of two up to 32 KiB is aligned
 * to it (see Aligned requests). block_init picks each class's
 * span length: the fewest units that hold at least 8 blocks with at most an
 * eighth left over (one unit for every class up to 3.5 KiB, 17 units for
 * 64 KiB); above SPAN_FEW_ABOVE (64 KiB) at least one block, so that a few
 * big buffers do not pin a megabyte (9 units of one block for 256 KiB, 13
 * of two for 192 KiB; 416 KiB at most). Blocks carry no header (hardening adds a 16-byte one for its
 * check word), so a block costs only its rounding to the class. Each span
 * has a descriptor (struct chunk) in the heap's own slab cache: its LIFO
 * free list (linked through the first payload word), a count of blocks in
 * use, and a carve pointer below which blocks have been handed out at least
 * once: new spans are carved lazily, a page or so at a time, so a span's
 * untouched pages cost nothing on a host that backs pages on first touch.
 * kfree finds the descriptor through the page map (heap_map.c), which
 * names the span of every unit: two or three loads, no hashing, no read of the
 * span's own memory.
 *
 * Aligned requests (kmalloc_aligned, 32 B..4 KiB). Since a span is
 * CHUNK_SIZE-aligned and its blocks sit at base + i * size, every block of
 * a class whose size is a multiple of align is aligned: block_aligned_class
 * picks the smallest such class at least the request, if rounding to it
 * wastes at most a quarter of the block (or the block is no bigger than
 * align itself: a page-aligned request takes a page, as it would from a
 * page allocator), and the request is a plain pop of that class. Above
 * 4 KiB alignment, and when hardening (blocks carry a 16-byte header), the
 * list allocator serves it.
 *
 * Lists. A class (struct bclass, in the heap: under the heap lock, behind
 * the per-CPU magazines of heap_mag.c, which take and give blocks here a
 * magazine at a time through span_alloc and span_free) links the spans that
 * have free blocks. The head serves every allocation (pop: three loads, two
 * stores); it leaves the list when it is full. A full span that gets a
 * block back joins the tail, so it gathers frees before it serves again and
 * spans do not flip between full and partial on every alloc/free pair. A
 * second list links all of a class's spans, for statistics and checks.
 *
 * Return. An empty span is kept only while it is its class's only partial
 * one; otherwise a one-unit span goes to a small pool any class can take
 * (CHUNK_POOL_MAX), and beyond that, like every longer span, back to the
 * list allocator. The release policy (heap_release.c) gives back the kept
 * ones and the pool too when the heap holds too much idle memory.
 *
 * Cost: O(1) alloc and free; refills and releases are a list allocator call
 * and a page-map update per unit. Weaknesses: a span with one live block
 * pins up to 544 KiB (the 64 KiB class), and so does a free one cached in a
 * magazine until the magazine is flushed; a CPU's two magazines of a class
 * above 64 KiB hold up to eight blocks (2 MiB at 256 KiB) until the idle
 * drain or the release policy takes them back.
 */
#include "heap_internal.h"

const uint32_t heap_class_size[KHEAP_NCLASSES] = {
    16,    32,    48,    64,    80,    96,    112,   128,   144,   160,   176,   192,
    208,   224,   240,   256,   288,   320,   352,   384,   416,   448,   480,   512,
    576,   640,   704,   768,   832,   896,   960,   1024,  1168,  1296,  1424,  1552,
    1712,  1808,  1920,  2048,  2560,  3072,  3584,  4096,  5120,  6144,  7168,  8192,
    10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768, 40960, 49152, 57344, 65536,
    81920, 98304, 114688, 131072, 163840, 196608, 229376, 262144,
};
uint8_t heap_class_of[KHEAP_SMALL_MAX / 16 + 1];
uint8_t heap_aligned_next[PAGE_SHIFT - HEAP_ALIGN_MIN_SHIFT + 1][KHEAP_NCLASSES];

void block_init(struct heap *h)
{
    unsigned c = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(heap_class_of); i++) {
        while (heap_class_size[c] < i * 16)
            c++;
        heap_class_of[i] = (uint8_t)c;
    }
    for (unsigned a = 0; a < ARRAY_SIZE(heap_aligned_next); a++) {
        unsigned next = KHEAP_NCLASSES;
        for (unsigned k = KHEAP_NCLASSES; k-- > 0;) {
            if (heap_class_size[k] % (1u << (a + HEAP_ALIGN_MIN_SHIFT)) == 0)
                next = k;
            heap_aligned_next[a][k] = (uint8_t)next;
        }
    }
    memset(h->cls, 0, sizeof(h->cls));
    for (c = 0; c < KHEAP_NCLASSES; c++) {
        struct bclass *k = &h->cls[c];
        k->size = heap_class_size[c];
        size_t stride = k->size + h->bhdr;
        size_t least = k->size > SPAN_FEW_ABOVE ? 1 : 8; /* blocks a span holds at least */
        uint32_t units = 1;
        for (;; units++) {
            size_t bytes = (size_t)units * CHUNK_SIZE - HDR_SIZE, per = bytes / stride;
            if ((per >= least && (bytes - per * stride) * 8 <= bytes) || units == SPAN_MAX_UNITS)
                break;
        }
        k->units = units;
        k->per_span = (uint32_t)(((size_t)units * CHUNK_SIZE - HDR_SIZE) / stride);
    }
    h->pool = NULL;
    h->npool = 0;
    h->nspans = 0;
    map_init(h);
    slab_heap_reset();
}

/* The bytes of a free block's payload that carry poison at this level. */
size_t block_poison_end(const struct heap *h, size_t size)
{
    return h->harden >= 2 ? size : MIN(size, (size_t)POISON_CHEAP);
}

/* ---------------------------------------------------------------- spans */

void block_push_free(struct heap *h, struct chunk *ch, void *p)
{
    if (h->harden) {
        hdr_of(p)->info = 0;
        hdr_of(p)->tag = heap_check_word(h, p, HSTATE_FREE);
        size_t pend = block_poison_end(h, h->cls[ch->cls].size);
        memset((uint8_t *)p + 8, POISON_BYTE, pend - 8);
    }
#if HEAP_CHECKED
    else
        ((uint64_t *)p)[1] = chunk_free_key(ch); /* free: a kfree of it is a double free */
#endif
    *(void **)p = ch->free;
    ch->free = p;
}

/* Push n blocks from `at` on ch's free list, hardening them first. */
static void push_blocks(struct heap *h, struct chunk *ch, uintptr_t at, size_t n)
{
    for (; n > 0; n--, at += ch->stride)
        block_push_free(h, ch, (void *)(at + h->bhdr));
}

void block_set_limits(struct heap *h, struct chunk *ch)
{
    bool off = h->harden || ch->holes;
    MAG_ST(ch->fast_limit, off ? 0 : ch->ncarved * ch->div_e);
    chunk_set_fast(ch, h->harden);
    map_set_fast(h, ch);
}

/* The block-start test's constants for ch's stride (see heap_internal.h):
 * the multiplier m, and e = m * stride - 2^64. */
static void block_divisor(struct chunk *ch)
{
    ch->div_mul = heap_div_mul(ch->stride);
    ch->div_e = (uint32_t)(ch->div_mul * ch->stride); /* 2^64 + e, modulo 2^64 */
}

/* Put a batch of never-used blocks (about a page) on ch's free list. */
static void carve(struct heap *h, struct chunk *ch)
{
    size_t n = MAX((size_t)1, (size_t)PAGE_SIZE / ch->stride);
    n = MIN(n, (size_t)((ch->limit - ch->carve) / ch->stride));
    push_blocks(h, ch, ch->carve, n);
    ch->carve += n * ch->stride;
    /* Read without the lock by kfree's block-start test on other CPUs. */
    MAG_ST(ch->ncarved, (ch->carve - chunk_first(ch)) / ch->stride);
    block_set_limits(h, ch);
}

void block_dry(struct heap *h, struct bclass *k, struct chunk *ch)
{
    if (ch->holes) /* its pages back before anything new is carved */
        span_holes_fill(h, ch);
    if (!ch->free && ch->carve < ch->limit)
        carve(h, ch);
    if (ch->free)
        return;
    k->partial = ch->next; /* full: off the list */
    if (ch->next)
        ch->next->prev = NULL;
    else
        k->ptail = NULL;
    ch->next = NULL;
}

struct chunk *block_refill(struct heap *h, unsigned cls)
{
    struct bclass *k = &h->cls[cls];
    struct chunk *ch = NULL;
    if (k->units == 1 && h->pool) {
        ch = h->pool;
        h->pool = ch->next;
        h->npool--;
    } else {
        ch = slab_chunk_desc_alloc();
        if (!ch)
            return NULL;
        size_t bytes = (size_t)k->units * CHUNK_SIZE;
        uint8_t *pay = list_alloc(h, bytes - HDR_SIZE, CHUNK_SIZE, 0);
        if (!pay) {
            slab_chunk_desc_free(ch);
            return NULL;
        }
        hdr_of(pay)->info |= HB_CHUNK;
        ch->base = (uintptr_t)pay;
        ch->units = k->units;
    }
    ch->cls = cls; /* before map_set, which copies it into the map */
    if (!map_set(h, ch->base, ch->units, ch)) {
        list_free(h, (void *)ch->base);
        slab_chunk_desc_free(ch);
        return NULL;
    }
    ch->next = ch->prev = NULL;
    ch->used = 0;
    ch->stride = (uint32_t)(k->size + h->bhdr);
    block_divisor(ch);
    ch->carve = chunk_first(ch);
    ch->total = k->per_span;
    ch->limit = ch->carve + (uintptr_t)ch->total * ch->stride;
    ch->free = NULL;
    ch->noted = 0;
    ch->holes = 0;
    ch->nholed = 0;
    ch->holes_seen = 0;
    carve(h, ch);
    ch->next = k->partial;
    if (k->partial)
        k->partial->prev = ch;
    else
        k->ptail = ch;
    k->partial = ch;
    ch->aprev = NULL;
    ch->anext = k->all;
    if (k->all)
        k->all->aprev = ch;
    k->all = ch;
    k->nchunks++;
    h->nspans++;
    return ch;
}

/* Give a pooled (or unlisted) span and its descriptor back. */
static void chunk_to_list(struct heap *h, struct chunk *ch)
{
    list_free(h, (void *)ch->base);
    slab_chunk_desc_free(ch);
}

void block_release(struct heap *h, struct chunk *ch)
{
    struct bclass *k = &h->cls[ch->cls];
    bool holed = ch->holes != 0;
    if (holed && !span_holes_release(h, ch))
        return; /* no frame for its first page: it stays, empty, until a later run */
    if (ch->prev)
        ch->prev->next = ch->next;
    else
        k->partial = ch->next;
    if (ch->next)
        ch->next->prev = ch->prev;
    else
        k->ptail = ch->prev;
    if (ch->aprev)
        ch->aprev->anext = ch->anext;
    else
        k->all = ch->anext;
    if (ch->anext)
        ch->anext->aprev = ch->aprev;
    k->nchunks--;
    h->nspans--;
    if (ch->noted)
        h->idle_noted -= (size_t)ch->units * CHUNK_SIZE;
    ch->noted = 0;
    map_set(h, ch->base, ch->units, NULL); /* a stale pointer into it finds no span */
    ch->cls = KHEAP_NCLASSES;              /* pooled */
    if (ch->units != 1 || h->npool >= CHUNK_POOL_MAX || holed) { /* a pooled span is carved
                                                                    without a commit */
        chunk_to_list(h, ch);
        return;
    }
    ch->next = h->pool;
    h->pool = ch;
    h->npool++;
}

void block_release_empty(struct heap *h, bool all)
{
    bool was = h->releasing;
    h->releasing = true; /* no run from inside: it would release under our feet */
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        struct bclass *k = &h->cls[c];
        for (struct chunk *ch = k->partial, *next; ch; ch = next) {
            next = ch->next;
            if (ch->noted && ch->used) { /* noted empty once, in use again */
                ch->noted = 0;
                h->idle_noted -= (size_t)ch->units * CHUNK_SIZE;
            }
            if (ch->used == 0 && (all || ch != k->partial || ch->next))
                block_release(h, ch);
        }
    }
    for (struct chunk *ch = h->pool, *next; ch; ch = next) {
        next = ch->next;
        chunk_to_list(h, ch);
    }
    h->pool = NULL;
    h->npool = 0;
    h->releasing = was;
}

/* ---------------------------------------------------------------- the span layer's alloc and free */

void *span_alloc(struct heap *h, unsigned cls)
{
    struct bclass *k = &h->cls[cls];
    struct chunk *ch = k->partial;
    if (!ch && !(ch = block_refill(h, cls)))
        return NULL;
    void *p = ch->free;
    ch->free = *(void **)p;
    ch->used++;
    h->span_out_bytes += k->size;
    if (!ch->free)
        block_dry(h, k, ch);
    return p;
}

/* A chunk that was full, or is now empty. A chunk that was full joins the
 * tail of its class's list: the head keeps serving, and by the time this one
 * comes up it has gathered more free blocks, so chunks do not flip between
 * full and partial on every alloc/free pair. */
static bool span_free_tail(struct heap *h, struct chunk *ch, void *head)
{
    struct bclass *k = &h->cls[ch->cls];
    bool grew = false; /* idle memory grew: the release policy may run */
    if (!head) {
        struct chunk *last = k->ptail;
        ch->next = NULL;
        ch->prev = last;
        if (last)
            last->next = ch;
        else
            k->partial = ch;
        k->ptail = ch;
        if (last && last->used == 0 && !last->prev) { /* an empty chunk is only kept alone */
            block_release(h, last);
            grew = true;
        }
    }
    /* Keep an empty chunk only when it is the class's last partial one, and
     * tell the release policy it is idle (once: a pair on a class's last
     * block empties the same span every time). */
    if (ch->used == 0) {
        if (ch->next || ch->prev) {
            block_release(h, ch);
            grew = true;
        } else if (!ch->noted) {
            ch->noted = 1;
            h->idle_noted += (size_t)ch->units * CHUNK_SIZE;
            grew = true;
        }
    }
    return grew;
}

bool span_free(struct heap *h, struct chunk *ch, void *p)
{
    void *head = ch->free;
    *(void **)p = head;
    ch->free = p;
    h->span_out_bytes -= h->cls[ch->cls].size;
    if (unlikely(--ch->used == 0 || !head))
        return span_free_tail(h, ch, head);
    return false;
}

size_t kheap_trim(void)
{
    struct heap *h = &kheap;
    if (!h->src)
        return 0;
    kheap_mag_drain(); /* this CPU's magazines; the run drains the depot */
    spin_lock(&h->lock);
    size_t held = h->heap_bytes;
    heap_release_run(h, true); /* every empty span, every free page that can go */
    list_trim_all(h, 0); /* then whole free segments, taking their decommit bits along */
    map_trim(h);
    list_trim_all(h, 0);
    spin_unlock(&h->lock);
    return held > h->heap_bytes ? held - h->heap_bytes : 0;
}
