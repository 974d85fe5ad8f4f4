/*
 * Fixed-size blocks: the small-request layer (up to KHEAP_SMALL_MAX bytes).
 *
 * Classes. 40 payload sizes: 16..256 in steps of 16, then eight steps per
 * power of two: 288, 320, ... 512, then 576, 640, ... 1024, then 1168, 1296,
 * 1424, 1552, 1712, 1808, 1920, 2048 (picked so that a 32 KiB chunk holds a
 * whole number of blocks with little left over). Rounding wastes at most 1/7
 * of a request above 256 bytes (about 4% on average) instead of up to 1/2
 * with powers of two. heap_class_of maps (size + 15) / 16 to a class in one
 * load.
 *
 * Chunks. A class carves its blocks out of CHUNK_SIZE (32 KiB) chunks, each
 * a CHUNK_SIZE-aligned list block flagged HB_CHUNK: [list header][blocks].
 * Blocks carry no header (hardening adds a 16-byte one for its check word),
 * so a block costs only its rounding to the class. Each chunk has a
 * descriptor (struct chunk) in the heap's own slab cache: its LIFO free list
 * (linked through the first payload word), a count of blocks in use, and a
 * carve pointer below which blocks have been handed out at least once: new
 * chunks are carved lazily, a batch at a time. kfree finds the descriptor
 * with chunk_of: the chunk's base (the pointer rounded down) looked up in the
 * chunk directory, an open-addressing hash table kept at most half full; it
 * reads no memory of the chunk itself, and the descriptors of all chunks
 * share a few hot cache lines.
 *
 * Lists. A class links the chunks that have free blocks. The head serves
 * every allocation (pop: three loads, two stores); it leaves the list when it
 * is full. A full chunk that gets a block back joins the tail, so it gathers
 * frees before it serves again and chunks do not flip between full and
 * partial on every alloc/free pair (two mispredicted branches each time).
 *
 * Return. An empty chunk is kept only while it is its class's only partial
 * chunk; otherwise it goes to a small pool of free chunks any class can take
 * (CHUNK_POOL_MAX), and beyond that back to the list allocator, which may
 * give the pages back. kheap_trim empties the pool and returns every empty
 * chunk.
 *
 * Cost: O(1) alloc and free (the directory probe is O(1) expected); refills
 * and releases are a list allocator call and a directory update.
 * Weaknesses: a chunk with one live block pins 32 KiB; a class used once
 * holds a whole chunk; the directory doubles by rehashing; no per-CPU caches.
 */
#include "heap_internal.h"

const uint16_t heap_class_size[KHEAP_NCLASSES] = {
    16,  32,  48,  64,   80,   96,   112,  128,  144,  160,  176,  192,  208, 224,
    240, 256, 288, 320,  352,  384,  416,  448,  480,  512,  576,  640,  704, 768,
    832, 896, 960, 1024, 1168, 1296, 1424, 1552, 1712, 1808, 1920, 2048,
};
uint8_t heap_class_of[KHEAP_SMALL_MAX / 16 + 1];

void block_init(struct heap *h)
{
    unsigned c = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(heap_class_of); i++) {
        while (heap_class_size[c] < i * 16)
            c++;
        heap_class_of[i] = (uint8_t)c;
    }
    for (c = 0; c < KHEAP_NCLASSES; c++) {
        memset(&h->cls[c], 0, sizeof(h->cls[c]));
        h->cls[c].size = heap_class_size[c];
    }
    memset(h->dir0, 0, sizeof(h->dir0));
    h->dir = h->dir0;
    h->dir_log = CDIR_MIN_LOG;
    h->dir_count = 0;
    h->pool = NULL;
    h->npool = 0;
    slab_heap_reset();
}

/* The bytes of a free block's payload that carry poison at this level. */
size_t block_poison_end(const struct heap *h, size_t size)
{
    return h->harden >= 2 ? size : MIN(size, (size_t)POISON_CHEAP);
}

/* ---------------------------------------------------------------- the directory */

static void cdir_put(struct cdir_slot *dir, unsigned log, uintptr_t base, struct chunk *ch)
{
    size_t mask = ((size_t)1 << log) - 1;
    size_t i = (size_t)(((uint64_t)(base / CHUNK_SIZE) * 0x9e3779b97f4a7c15ULL) >> (64 - log));
    while (dir[i].base)
        i = (i + 1) & mask;
    dir[i].base = base;
    dir[i].ch = ch;
}

/* Move the directory to a table of 1 << log slots (dir0 for the smallest). */
static bool cdir_resize(struct heap *h, unsigned log)
{
    size_t n = (size_t)1 << log;
    struct cdir_slot *t = h->dir0;
    if (log > CDIR_MIN_LOG && !(t = list_alloc(h, n * sizeof(*t), 16, 0)))
        return false;
    struct cdir_slot *old = h->dir; /* never t: dir0 is only ever grown from or shrunk to */
    memset(t, 0, n * sizeof(*t));
    for (size_t i = 0; i < ((size_t)1 << h->dir_log); i++)
        if (old[i].base)
            cdir_put(t, log, old[i].base, old[i].ch);
    if (h->dir != h->dir0)
        list_free(h, h->dir);
    h->dir = t;
    h->dir_log = log;
    return true;
}

/* Room for one more entry: double the table when it would pass half full. */
static bool cdir_reserve(struct heap *h)
{
    if (2 * (h->dir_count + 1) <= ((size_t)1 << h->dir_log))
        return true;
    return cdir_resize(h, h->dir_log + 1);
}

/* kheap_trim: the smallest table that stays at most half full. */
static void cdir_shrink(struct heap *h)
{
    unsigned log = CDIR_MIN_LOG;
    while (((size_t)1 << log) < 2 * h->dir_count)
        log++;
    if (log < h->dir_log)
        cdir_resize(h, log); /* keeps the big table if out of memory */
}

/* Remove base, shifting later entries of its run back (no tombstones). */
static void cdir_remove(struct heap *h, uintptr_t base)
{
    size_t mask = ((size_t)1 << h->dir_log) - 1, i = cdir_hash(h, base);
    while (h->dir[i].base != base)
        i = (i + 1) & mask;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (!h->dir[j].base)
            break;
        size_t k = cdir_hash(h, h->dir[j].base);
        /* Move j back to i unless its home k lies cyclically in (i, j]. */
        if ((i <= j) ? (k <= i || k > j) : (k <= i && k > j)) {
            h->dir[i] = h->dir[j];
            i = j;
        }
    }
    h->dir[i].base = 0;
    h->dir_count--;
}

/* ---------------------------------------------------------------- chunks */

/* Push n blocks from `at` on ch's free list, hardening them first. */
static void push_blocks(struct heap *h, struct chunk *ch, uintptr_t at, size_t n)
{
    size_t pend = block_poison_end(h, h->cls[ch->cls].size);
    for (; n > 0; n--, at += ch->stride) {
        void *p = (void *)(at + h->bhdr);
        if (h->harden) {
            hdr_of(p)->info = 0;
            hdr_of(p)->tag = heap_check_word(h, p, HSTATE_FREE);
            memset((uint8_t *)p + 8, POISON_BYTE, pend - 8);
        }
#if HEAP_CHECKED
        else
            ((uint64_t *)p)[1] = h->free_key; /* free: a kfree of it is a double free */
#endif
        *(void **)p = ch->free;
        ch->free = p;
    }
}

/* The block-start test's constants for ch's stride (see heap_internal.h). */
static void block_divisor(struct chunk *ch)
{
    uint64_t d = ch->stride, d0 = d >> __builtin_ctzll(d), inv = d0;
    for (int i = 0; i < 6; i++) /* Newton: each step doubles the correct low bits */
        inv *= 2 - d0 * inv;
    ch->div_inv = inv;
    ch->div_shift = (uint32_t)__builtin_ctzll(d);
    ch->div_max = UINT64_MAX / d;
}

/* Put a batch of never-used blocks on ch's free list. */
static void carve(struct heap *h, struct chunk *ch)
{
    size_t n = MAX((size_t)4, (size_t)4096 / ch->stride);
    n = MIN(n, (size_t)((ch->limit - ch->carve) / ch->stride));
    push_blocks(h, ch, ch->carve, n);
    ch->carve += n * ch->stride;
    ch->carved = ch->carve - chunk_first(ch);
}

void block_dry(struct heap *h, struct bclass *k, struct chunk *ch)
{
    if (ch->carve < ch->limit)
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
    if (!cdir_reserve(h))
        return NULL;
    struct chunk *ch = h->pool;
    if (ch) {
        h->pool = ch->next;
        h->npool--;
    } else {
        ch = slab_chunk_desc_alloc();
        if (!ch)
            return NULL;
        uint8_t *pay = list_alloc(h, CHUNK_SIZE - HDR_SIZE, CHUNK_SIZE, HDR_SIZE);
        if (!pay) {
            slab_chunk_desc_free(ch);
            return NULL;
        }
        hdr_of(pay)->info |= HB_CHUNK;
        ch->base = (uintptr_t)pay - HDR_SIZE;
    }
    ch->next = ch->prev = NULL;
    ch->used = 0;
    ch->cls = cls;
    ch->stride = (uint32_t)(k->size + h->bhdr);
    block_divisor(ch);
    ch->carve = chunk_first(ch);
    ch->total = (uint32_t)((CHUNK_SIZE - HDR_SIZE) / ch->stride);
    ch->limit = ch->carve + (uintptr_t)ch->total * ch->stride;
    ch->free = NULL;
    carve(h, ch);
    cdir_put(h->dir, h->dir_log, ch->base, ch);
    h->dir_count++;
    ch->next = k->partial;
    if (k->partial)
        k->partial->prev = ch;
    else
        k->ptail = ch;
    k->partial = ch;
    k->nchunks++;
    return ch;
}

/* Give a pooled chunk and its descriptor back. */
static void chunk_to_list(struct heap *h, struct chunk *ch)
{
    list_free(h, (void *)(ch->base + HDR_SIZE));
    slab_chunk_desc_free(ch);
}

void block_release(struct heap *h, struct chunk *ch)
{
    struct bclass *k = &h->cls[ch->cls];
    if (ch->prev)
        ch->prev->next = ch->next;
    else
        k->partial = ch->next;
    if (ch->next)
        ch->next->prev = ch->prev;
    else
        k->ptail = ch->prev;
    k->nchunks--;
    cdir_remove(h, ch->base); /* a stale pointer into it no longer finds a chunk */
    ch->cls = KHEAP_NCLASSES; /* pooled */
    ch->next = h->pool;
    h->pool = ch;
    h->npool++;
    if (h->npool > CHUNK_POOL_MAX) {
        h->pool = ch->next;
        h->npool--;
        chunk_to_list(h, ch);
    }
}

size_t kheap_trim(void)
{
    struct heap *h = &kheap;
    if (!h->src)
        return 0;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        struct chunk *ch = h->cls[c].partial, *next;
        for (; ch; ch = next) {
            next = ch->next;
            if (ch->used == 0)
                block_release(h, ch); /* into the pool */
        }
    }
    for (struct chunk *ch = h->pool, *next; ch; ch = next) {
        next = ch->next;
        chunk_to_list(h, ch);
    }
    h->pool = NULL;
    h->npool = 0;
    cdir_shrink(h);
    slab_chunk_desc_reap();
    return list_trim_all(h);
}
