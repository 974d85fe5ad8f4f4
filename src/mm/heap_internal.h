/*
 * Private to the heap (src/mm/{bump,block,list,kmalloc,heap_check,slab}.c).
 *
 * How kfree tells a small block from a list block without touching the
 * block: chunks of small blocks are CHUNK_SIZE bytes at CHUNK_SIZE-aligned
 * addresses, and start with a struct chunk whose key is its own address
 * XOR a per-heap secret. For any heap pointer p, the word at
 * (p & ~(CHUNK_SIZE - 1)) + 16 is readable (segments start aligned, see
 * list.c); it holds the matching key exactly when p lies in a chunk.
 *
 * List blocks sit behind a 16-byte header (struct hhdr): info = block bytes
 * (multiple of 16, header included) | flags. Small blocks have no header
 * unless hardening, where each carries one too: tag = requested size << 32
 * | check word (from the address, a secret and the alloc/free state); list
 * blocks use the same tag.
 */
#ifndef PAGODA_MM_HEAP_INTERNAL_H
#define PAGODA_MM_HEAP_INTERNAL_H

#include <pagoda/kmalloc.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/types.h>

struct hhdr {
    uint64_t info;
    uint64_t tag;
};
#define HDR_SIZE 16u

#define HB_USED      1u /* list block in use */
#define HB_PREV_FREE 2u /* the block before this one is free (its footer is valid) */
#define HB_CHUNK     8u /* a list block holding a chunk of small blocks */
#define HB_FLAGS     15u

#define HSTATE_ALLOC 0xa110c8edu
#define HSTATE_FREE  0xf4eef4eeu
#define POISON_BYTE  0xde
#define POISON_WORD  0xdedededededededeULL
#define CANARY       0x5a17ca5e5a17ca5eULL
#define REDZONE      8u /* canary bytes after the requested size */
#define POISON_CHEAP 32u /* level 1 poisons this many payload bytes */

/* ---- list allocator (list.c): TLSF-style two-level bins */
#define SL_LOG    4
#define SL_COUNT  (1u << SL_LOG)
#define FL_SHIFT  (SL_LOG + 4) /* sizes below 256 map linearly (16-byte steps) */
#define FL_COUNT  40
#define LIST_MIN_BLOCK 48u     /* header + two links + footer, rounded */
#define LIST_MAX_ALLOC (1ULL << 40)

struct lfree {
    struct hhdr h;
    struct lfree *next, *prev; /* bin links */
};

struct lseg {
    struct lseg *next;
    uintptr_t start, end; /* the region from the source: [start, end) */
    uintptr_t first;      /* the first block's header (see grow in list.c) */
};
#define SEG_OVERHEAD (sizeof(struct lseg) + HDR_SIZE) /* + epilogue header */

/* ---- small blocks (block.c) */
#define CHUNK_SIZE KiB(32)

struct chunk {
    uint64_t key;              /* (uintptr_t)this ^ heap key: "this is a chunk" */
    void *free;                /* free blocks (payload pointers), linked through word 0 */
    struct chunk *next, *prev; /* the class's list of chunks with free blocks */
    uint32_t used, total;
    uint32_t cls, stride;      /* stride: payload + header (16 when hardening, else 0) */
    uintptr_t first;           /* the first block (its header, when hardening) */
    uintptr_t carve;           /* blocks from here on were never handed out */
};
#define CHUNK_POOL_MAX 8 /* free chunks kept for any class before the list gets them */

struct bclass {
    struct chunk *partial; /* chunks with a free block; the head serves */
    uint64_t live;         /* blocks in use */
    uint32_t size;         /* payload bytes */
    uint32_t nchunks;
};

struct heap {
    struct heap_source *src;
    int harden;
    uint32_t secret;
    uint64_t key;       /* chunk keys */
    size_t small_limit; /* requests below this are small blocks (0 before init) */
    size_t rz, bhdr;    /* redzone bytes and small-block header bytes (hardening) */
    /* list allocator */
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[FL_COUNT];
    struct lfree *bins[FL_COUNT][SL_COUNT];
    struct lseg *segs;
    uintptr_t lo, hi; /* bounds of all segments, for a quick pointer check */
    size_t free_bytes, free_blocks, used_blocks;
    size_t heap_bytes, peak_heap_bytes, grows, shrinks;
    /* small blocks */
    struct bclass cls[KHEAP_NCLASSES];
    struct chunk *pool; /* free chunks, linked through next */
    size_t npool;
    /* totals */
    size_t live_bytes, peak_live_bytes, list_live_objects;
};

extern struct heap kheap;
extern uint8_t heap_class_of[KHEAP_SMALL_MAX / 16 + 1];
extern const uint16_t heap_class_size[KHEAP_NCLASSES];

static inline struct hhdr *hdr_of(const void *p)
{
    return (struct hhdr *)((uintptr_t)p - HDR_SIZE);
}

static inline uint32_t heap_check_word(const struct heap *h, const void *p, uint32_t state)
{
    return (uint32_t)(((uintptr_t)p >> 4) * 0x9e3779b1u) ^ h->secret ^ state;
}

/* list.c */
void list_init(struct heap *h);
/* A list block with at least `size` payload bytes, the payload at an address
 * congruent to `off` modulo `align` (a power of two >= 16). NULL when the
 * source is exhausted. */
void *list_alloc(struct heap *h, size_t size, size_t align, size_t off);
void list_free(struct heap *h, void *p);
/* Grow or shrink in place to `size` payload bytes; false if it cannot. */
bool list_resize(struct heap *h, void *p, size_t size);
static inline size_t list_capacity(const void *p)
{
    return (hdr_of(p)->info & ~(uint64_t)HB_FLAGS) - HDR_SIZE;
}
bool list_contains(const struct heap *h, const void *p);
/* Give every free segment tail back to the source; returns bytes. */
size_t list_trim_all(struct heap *h);
void list_map(size_t size, unsigned *fl, unsigned *sl);

/* block.c */
void block_init(struct heap *h);
struct chunk *block_refill(struct heap *h, unsigned cls);
/* The head chunk's free list just ran dry: carve more blocks or, if it is
 * full, take it off the class's list. */
void block_dry(struct heap *h, struct bclass *k, struct chunk *ch);
void block_release(struct heap *h, struct chunk *ch);
size_t block_poison_end(const struct heap *h, size_t size);

/* The chunk holding p, or NULL if p is not in one. p must be in the heap. */
static inline struct chunk *chunk_of(const struct heap *h, const void *p)
{
    struct chunk *ch = (struct chunk *)(((uintptr_t)p & ~(uintptr_t)(CHUNK_SIZE - 1)) + HDR_SIZE);
    return ch->key == ((uintptr_t)ch ^ h->key) ? ch : NULL;
}

/* bump.c */
bool bump_contains(const void *p);
size_t bump_used(void);
void *bump_kmalloc(size_t size, size_t align);

/* Report heap corruption: panic with address, size and class. */
__attribute__((noreturn)) void heap_fail(const char *what, const void *p);

#endif
