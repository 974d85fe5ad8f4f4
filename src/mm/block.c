/*
 * Fixed-size blocks: the small-request layer (up to KHEAP_SMALL_MAX bytes).
 *
 * Classes. 40 payload sizes: 16..256 in steps of 16, then eight steps per
 * power of two up to 2048 (288, 320, ... 512, 576, ... 1024, 1152, ... 2048),
 * so rounding wastes at most 1/9 of a request above 256 bytes (6% on
 * average) instead of up to 1/2 with powers of two. heap_class_of maps
 * (size + 15) / 16 to a class in one load.
 *
 * Chunks. A class carves its blocks out of chunks it takes from the list
 * allocator (a list block flagged HB_CHUNK). A chunk is
 *   [struct chunk][hdr|payload][hdr|payload]...
 * each block header saying "small, class c, chunk at -offset", written once
 * when the chunk is carved, so kfree finds chunk and class from the header
 * alone. Each chunk keeps its own LIFO free list (linked through the first
 * payload word) and a count of blocks in use. A class links the chunks that
 * have a free block; the head serves every allocation (pop: three loads and
 * two stores), a chunk leaves the list when it fills and comes back when a
 * block of it is freed.
 *
 * Return. When a chunk's last block is freed it becomes empty; a class keeps
 * one empty chunk (so an alloc/free loop at a boundary does not thrash) and
 * gives any further empty chunk back to the list allocator at once.
 *
 * Cost: O(1) alloc and free; a refill or release is one list operation.
 * Per-object overhead: the 16-byte header plus rounding to the class (and
 * the 8-byte redzone when hardening). Weaknesses: a chunk with one live block
 * pins the whole chunk; no per-CPU caches.
 */
#include "heap_internal.h"

#define CHUNK_TARGET_BLOCKS 16
#define CHUNK_MIN_BYTES     KiB(4)
#define CHUNK_MAX_BYTES     KiB(32)

const uint16_t heap_class_size[KHEAP_NCLASSES] = {
    16,   32,   48,   64,   80,   96,   112,  128,  144,  160,  176,  192,  208,  224,
    240,  256,  288,  320,  352,  384,  416,  448,  480,  512,  576,  640,  704,  768,
    832,  896,  960,  1024, 1152, 1280, 1408, 1536, 1664, 1792, 1920, 2048,
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
        struct bclass *k = &h->cls[c];
        memset(k, 0, sizeof(*k));
        k->size = heap_class_size[c];
        k->stride = k->size + HDR_SIZE;
        size_t total = ALIGN_UP((size_t)k->stride * CHUNK_TARGET_BLOCKS + 64, (size_t)PAGE_SIZE);
        total = MIN(MAX(total, (size_t)CHUNK_MIN_BYTES), (size_t)CHUNK_MAX_BYTES);
        k->chunk_bytes = (uint32_t)(total - HDR_SIZE); /* the list header makes it `total` */
    }
}

/* The bytes of a free block's payload that carry poison at this level. */
size_t block_poison_end(const struct heap *h, size_t size)
{
    return h->harden >= 2 ? size : MIN(size, (size_t)POISON_CHEAP);
}

void block_prepare_chunk(struct heap *h, struct chunk *ch, unsigned cls)
{
    struct bclass *k = &h->cls[cls];
    uintptr_t first = (uintptr_t)ch + sizeof(struct chunk);
    uint32_t n = (uint32_t)((k->chunk_bytes - sizeof(struct chunk)) / k->stride);
    ch->next = ch->prev = NULL;
    ch->used = 0;
    ch->total = n;
    ch->cls = cls;
    ch->magic = CHUNK_MAGIC;
    ch->free = NULL;
    size_t pend = block_poison_end(h, k->size);
    /* Link back to front so the free list runs in address order. */
    for (uint32_t i = n; i-- > 0;) {
        struct hhdr *b = (struct hhdr *)(first + (uintptr_t)i * k->stride);
        void *p = b + 1;
        b->info = ((uint64_t)((uintptr_t)b - (uintptr_t)ch) << 32) | (cls << 8) | HB_SMALL;
        if (h->harden) {
            b->tag = heap_check_word(h, p, HSTATE_FREE);
            memset((uint8_t *)p + 8, POISON_BYTE, pend - 8);
        }
        *(void **)p = ch->free;
        ch->free = p;
    }
}

void *block_refill(struct heap *h, unsigned cls)
{
    struct bclass *k = &h->cls[cls];
    struct chunk *ch = list_alloc(h, k->chunk_bytes, 16, 0);
    if (!ch)
        return NULL;
    hdr_of(ch)->info |= HB_CHUNK;
    block_prepare_chunk(h, ch, cls);
    ch->next = k->partial;
    if (k->partial)
        k->partial->prev = ch;
    k->partial = ch;
    k->nchunks++;
    k->nempty++;
    return ch;
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
    k->nchunks--;
    k->nempty--;
    ch->magic = 0; /* a stale pointer into it no longer finds a chunk */
    list_free(h, ch);
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
                block_release(h, ch);
        }
    }
    return list_trim_all(h);
}
