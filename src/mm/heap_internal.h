/*
 * Private to the heap (src/mm/{bump,block,list,kmalloc,heap_check,slab}.c).
 *
 * Every block the heap hands out, small or large, sits behind a 16-byte
 * header, so kfree can tell the two kinds apart by looking at one word:
 *
 *   list block : info = block bytes (multiple of 16, header included) | flags
 *   small block: info = offset of its chunk << 32 | class << 8 | HB_SMALL
 *   tag        : hardening only: requested size << 32 | check word, where the
 *                check word depends on the address and on alloc/free state.
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
#define HB_SMALL     4u /* a small block inside a chunk */
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
    uint64_t pad;
};
#define SEG_OVERHEAD (sizeof(struct lseg) + HDR_SIZE) /* + epilogue header */

/* ---- small blocks (block.c) */
struct chunk {
    struct chunk *next, *prev; /* the class's list of chunks with free blocks */
    void *free;                /* free blocks (payload pointers), linked through word 0 */
    uint32_t used, total;
    uint32_t cls, magic;
    uint64_t pad;
};
#define CHUNK_MAGIC 0xc4c4b10cu

struct bclass {
    struct chunk *partial; /* chunks with a free block; the head serves */
    uint32_t size;         /* payload bytes */
    uint32_t stride;       /* size + header */
    uint32_t chunk_bytes;  /* payload bytes asked of the list allocator */
    uint32_t nchunks, nempty;
    uint64_t live, allocs;
};

struct heap {
    struct heap_source *src;
    int harden;
    uint32_t secret;
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
    /* totals */
    size_t live_bytes, peak_live_bytes, live_objects;
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
void *block_refill(struct heap *h, unsigned cls);
void block_release(struct heap *h, struct chunk *ch);
void block_prepare_chunk(struct heap *h, struct chunk *ch, unsigned cls);
size_t block_poison_end(const struct heap *h, size_t size);

/* bump.c */
bool bump_contains(const void *p);
size_t bump_used(void);
void *bump_kmalloc(size_t size, size_t align);

/* Report heap corruption: panic with address, size and class. */
__attribute__((noreturn)) void heap_fail(const char *what, const void *p);

#endif
