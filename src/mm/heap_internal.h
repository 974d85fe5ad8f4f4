/*
 * Private to the heap (src/mm/{bump,block,list,kmalloc,heap_check,slab}.c).
 *
 * How kfree tells a small block from a list block: small blocks live in
 * CHUNK_SIZE-aligned chunks listed in the chunk directory (block.c), so
 * rounding the pointer down and looking the result up answers it without
 * touching the block. Anything else in the heap's bounds is a list block.
 *
 * List blocks sit behind a 16-byte header (struct hhdr): info = block bytes
 * (multiple of 16, header included) | flags; tag = slack << 32 | check word,
 * the check word derived from the address, a secret and the alloc/free
 * state, the slack the block's capacity minus the requested size (so a
 * block of any size, 4 GiB and more included, finds its canary). Small
 * blocks have no header unless hardening, where each carries one too.
 *
 * Always-on free checks (level 0; PAGODA_HEAP_UNCHECKED compiles them out):
 * kfree of a small block checks that the pointer is a block start that has
 * been handed out (arithmetic on the chunk descriptor), and that the block
 * does not hold the free key a kfree leaves in its second word (a double
 * free; see chunk_is_block_start). List blocks carry the
 * ALLOC check word in their header's tag at every level; kfree first finds
 * the segment holding the pointer (reading only the heap's own structures),
 * then the check word.
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

#define HB_USED 1u      /* list block in use */
#define HB_PREV_FREE 2u /* the block before this one is free (its footer is valid) */
#define HB_CHUNK 8u     /* a list block holding a chunk of small blocks */
#define HB_FLAGS 15u

#ifdef PAGODA_HEAP_UNCHECKED
#define HEAP_CHECKED 0
#else
#define HEAP_CHECKED 1
#endif

#define HSTATE_ALLOC 0xa110c8edu
#define HSTATE_FREE 0xf4eef4eeu
#define POISON_BYTE 0xde
#define POISON_WORD 0xdedededededededeULL
#define CANARY 0x5a17ca5e5a17ca5eULL
#define REDZONE 8u       /* canary bytes after the requested size */
#define POISON_CHEAP 32u /* level 1 poisons this many payload bytes */

/* ---- list allocator (list.c): TLSF-style two-level bins */
#define SL_LOG 4
#define SL_COUNT (1u << SL_LOG)
#define FL_SHIFT (SL_LOG + 4) /* sizes below 256 map linearly (16-byte steps) */
#define FL_COUNT 40
#define LIST_MIN_BLOCK 48u /* header + two links + footer, rounded */
#define LIST_MAX_ALLOC (1ULL << 40)

struct lfree {
    struct hhdr h;
    struct lfree *next, *prev; /* bin links */
};

struct lseg {
    struct lseg *next;
    uintptr_t start, end; /* the region from the source: [start, end) */
    uintptr_t first;      /* the first block's header, right after this */
};
#define SEG_OVERHEAD (sizeof(struct lseg) + HDR_SIZE) /* + epilogue header */

/* ---- small blocks (block.c) */
#define CHUNK_SIZE KiB(32)

/* A chunk's descriptor. It lives in a slab cache, not in the chunk, so the
 * descriptors of all chunks sit together in a few hot cache lines and kfree
 * never reads the chunk's own (usually cold) memory. */
struct chunk {
    uintptr_t base;            /* the chunk: CHUNK_SIZE-aligned, its list header first */
    void *free;                /* free blocks (payload pointers), linked through word 0 */
    struct chunk *next, *prev; /* the class's list of chunks with free blocks */
    uint32_t used, total;
    uint32_t cls, stride; /* stride: payload + header (16 when hardening, else 0) */
    uintptr_t carve;      /* blocks from here up were never handed out */
    uintptr_t limit;      /* the end of the last block */
    uint64_t carved;  /* carve - first: the bytes of blocks handed out at least once */
    uint64_t div_inv; /* block-start test (see chunk_is_block_start) */
    uint64_t div_max;
    uint32_t div_shift;
};

/* The chunk directory: an open-addressing hash table, chunk base -> descriptor. */
struct cdir_slot {
    uintptr_t base; /* 0: empty */
    struct chunk *ch;
};
#define CDIR_MIN_LOG 6
#define CHUNK_POOL_MAX 4 /* free chunks kept for any class before the list gets them */

struct bclass {
    struct chunk *partial; /* chunks with a free block; the head serves */
    struct chunk *ptail;   /* its tail: chunks that were full queue here */
    uint64_t live;         /* blocks in use */
    uint32_t size;         /* payload bytes */
    uint32_t nchunks;
};

struct heap {
    struct heap_source *src;
    int harden;
    uint32_t secret;
    uint64_t free_key; /* level 0: a free small block's second word */
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
    struct cdir_slot *dir; /* the chunk directory: 1 << dir_log slots, half full at most */
    unsigned dir_log;
    size_t dir_count;
    struct cdir_slot dir0[1u << CDIR_MIN_LOG]; /* until the first growth */
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
/* True if p could be a list block's payload: 16-byte aligned and inside a
 * segment, past its first header and before its epilogue. Reads only the
 * segment list, never memory at p. */
bool list_could_be_block(const struct heap *h, const void *p);
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

static inline size_t cdir_hash(const struct heap *h, uintptr_t base)
{
    return (size_t)(((uint64_t)(base / CHUNK_SIZE) * 0x9e3779b97f4a7c15ULL) >> (64 - h->dir_log));
}

/* The chunk holding p, or NULL if p is not in one: a directory lookup that
 * reads no heap memory. */
static inline struct chunk *chunk_of(const struct heap *h, const void *p)
{
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(CHUNK_SIZE - 1);
    size_t mask = ((size_t)1 << h->dir_log) - 1;
    for (size_t i = cdir_hash(h, base);; i = (i + 1) & mask) {
        const struct cdir_slot *e = &h->dir[i];
        if (e->base == base)
            return e->ch;
        if (!e->base)
            return NULL;
    }
}

/* The first block of a chunk (its header, when hardening). */
static inline uintptr_t chunk_first(const struct chunk *ch)
{
    return ch->base + HDR_SIZE;
}

#if HEAP_CHECKED
/* Level 0's free checks. A block start is first + i * stride for i below
 * the carve pointer: off = p - first is tested with one multiply and one
 * rotate (n is a multiple of d0 * 2^k iff rotr(n * inv(d0), k) <= ~0 / d,
 * inv(d0) the inverse of the odd part modulo 2^64), and against the carved
 * bytes, which also rejects p below first (off wraps around). A free block
 * holds the heap's free key in its second word (kmalloc clears it), so a
 * second kfree finds it there; the key is then confirmed by walking the
 * chunk's free list, so user data that happens to equal it costs time,
 * never a false report. */
static inline bool chunk_is_block_start(const struct chunk *ch, const void *p)
{
    uint64_t off = (uint64_t)((uintptr_t)p - chunk_first(ch)), q = off * ch->div_inv;
    q = (q >> ch->div_shift) | (q << ((64 - ch->div_shift) & 63));
    return off < ch->carved && q <= ch->div_max;
}
#endif

/* slab.c: the descriptors' cache (not in the global list), reset by kheap_init. */
struct chunk *slab_chunk_desc_alloc(void);
void slab_chunk_desc_free(struct chunk *ch);
size_t slab_chunk_desc_reap(void);
void slab_heap_reset(void);

/* bump.c */
bool bump_contains(const void *p);
size_t bump_used(void);
void *bump_kmalloc(size_t size, size_t align);

/* Report a bad free or heap corruption at p: panic with the address and
 * what the heap can vouch for (the block's size and class, the requested
 * size when a verified header holds it), never unverified bytes. */
__attribute__((noreturn)) void heap_fail(const char *what, const void *p);

/* The hardening tag: the slack (capacity minus requested size) over the
 * check word. */
static inline uint64_t heap_tag(const struct heap *h, const void *p, size_t cap, size_t size)
{
    return ((uint64_t)(cap - size) << 32) | heap_check_word(h, p, HSTATE_ALLOC);
}

#endif
