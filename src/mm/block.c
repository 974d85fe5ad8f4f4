/*
 * Fixed-size blocks: the small-request layer (up to KHEAP_SMALL_MAX bytes).
 *
 * Classes. 40 payload sizes: 16..256 in steps of 16, then eight steps per
 * power of two up to 2048 (288, 320, ... 512, 576, ... 1024, 1152, ... 2048),
 * so rounding wastes at most 1/9 of a request above 256 bytes (about 6% on
 * average) instead of up to 1/2 with powers of two. heap_class_of maps
 * (size + 15) / 16 to a class in one load.
 *
 * Chunks. A class carves its blocks out of CHUNK_SIZE chunks it takes from
 * the list allocator, CHUNK_SIZE-aligned (a list block flagged HB_CHUNK whose
 * header starts the aligned range):
 *   [list header][struct chunk][block][block]...
 * Blocks carry no header (hardening adds one for its check word), so the
 * per-object overhead is only the rounding to the class. kfree finds the
 * chunk by rounding the pointer down (chunk_of), and the class in the chunk.
 * Each chunk keeps its own LIFO free list, linked through the first payload
 * word, and a count of blocks in use. A class links the chunks that have a
 * free block; the head serves every allocation (pop: three loads, two
 * stores), a chunk leaves the list when it fills and comes back, at the
 * head, when one of its blocks is freed.
 *
 * Return. A chunk whose last block is freed goes back to the list allocator
 * at once unless it is the head of its class's list, which stays (so an
 * alloc/free loop at a chunk boundary does not thrash). kheap_trim returns
 * every empty chunk.
 *
 * Cost: O(1) alloc and free; a refill or release is one list operation.
 * Weaknesses: a chunk with one live block pins 32 KiB; a class used once
 * holds a whole chunk; no per-CPU caches.
 */
#include "heap_internal.h"

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
        memset(&h->cls[c], 0, sizeof(h->cls[c]));
        h->cls[c].size = heap_class_size[c];
    }
}

/* The bytes of a free block's payload that carry poison at this level. */
size_t block_poison_end(const struct heap *h, size_t size)
{
    return h->harden >= 2 ? size : MIN(size, (size_t)POISON_CHEAP);
}

/* Put up to a batch of never-used blocks on ch's free list. */
static void carve(struct heap *h, struct chunk *ch)
{
    uintptr_t limit = ch->first + (uintptr_t)ch->total * ch->stride;
    size_t n = MAX((size_t)4, (size_t)4096 / ch->stride), size = h->cls[ch->cls].size;
    size_t pend = block_poison_end(h, size);
    void **tail = &ch->free;
    for (; n > 0 && ch->carve < limit; n--, ch->carve += ch->stride) {
        void *p = (void *)(ch->carve + h->bhdr);
        if (h->harden) {
            hdr_of(p)->info = 0;
            hdr_of(p)->tag = heap_check_word(h, p, HSTATE_FREE);
            memset((uint8_t *)p + 8, POISON_BYTE, pend - 8);
        }
        *tail = p;
        tail = (void **)p;
    }
    *tail = NULL;
}

void block_dry(struct heap *h, struct bclass *k, struct chunk *ch)
{
    carve(h, ch);
    if (ch->free)
        return;
    k->partial = ch->next; /* full: off the list */
    if (ch->next)
        ch->next->prev = NULL;
    ch->next = NULL;
}

struct chunk *block_refill(struct heap *h, unsigned cls)
{
    struct bclass *k = &h->cls[cls];
    struct chunk *ch = h->pool;
    if (ch) {
        h->pool = ch->next;
        h->npool--;
    } else {
        ch = list_alloc(h, CHUNK_SIZE - HDR_SIZE, CHUNK_SIZE, HDR_SIZE);
        if (!ch)
            return NULL;
        hdr_of(ch)->info |= HB_CHUNK;
    }
    ch->key = (uintptr_t)ch ^ h->key;
    ch->next = ch->prev = NULL;
    ch->used = 0;
    ch->cls = cls;
    ch->stride = (uint32_t)(k->size + h->bhdr);
    ch->first = (uintptr_t)ch + sizeof(struct chunk);
    ch->total = (uint32_t)(((uintptr_t)ch + CHUNK_SIZE - HDR_SIZE - ch->first) / ch->stride);
    ch->carve = ch->first;
    ch->free = NULL;
    carve(h, ch);
    ch->next = k->partial;
    if (k->partial)
        k->partial->prev = ch;
    k->partial = ch;
    k->nchunks++;
    return ch;
}

/* Give a free chunk to the list allocator. */
static void chunk_to_list(struct heap *h, struct chunk *ch)
{
    ch->key = 0; /* a stale pointer into it no longer finds a chunk */
    list_free(h, ch);
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
    if (h->npool >= CHUNK_POOL_MAX) {
        chunk_to_list(h, ch);
        return;
    }
    ch->key = 0;
    ch->cls = KHEAP_NCLASSES; /* pooled */
    ch->next = h->pool;
    h->pool = ch;
    h->npool++;
}

size_t kheap_trim(void)
{
    struct heap *h = &kheap;
    if (!h->src)
        return 0;
    for (struct chunk *ch = h->pool, *next; ch; ch = next) {
        next = ch->next;
        chunk_to_list(h, ch);
    }
    h->pool = NULL;
    h->npool = 0;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        struct chunk *ch = h->cls[c].partial, *next;
        for (; ch; ch = next) {
            next = ch->next;
            if (ch->used == 0) {
                block_release(h, ch); /* into the pool, ... */
                ch = h->pool;         /* ... and straight on to the list */
                h->pool = ch->next;
                h->npool--;
                chunk_to_list(h, ch);
            }
        }
    }
    return list_trim_all(h);
}
