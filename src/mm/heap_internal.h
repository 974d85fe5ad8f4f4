/*
 * Private to the heap (src/mm/{bump,block,list,kmalloc,heap_check,
 * heap_map,heap_release,slab}.c).
 *
 * How kfree tells a small block from a list block: small blocks live in
 * spans of whole CHUNK_SIZE units, and the page map (heap_map.c) names the
 * span of every unit, so one lookup answers it without touching the block.
 * Anything else in the heap's bounds is a list block.
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
#include <pagoda/percpu.h>
#include <pagoda/spinlock.h>
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
#define LIST_TRIM_KEEP KiB(256) /* a release run leaves this much of a free tail */

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
#define CHUNK_SIZE KiB(32) /* the unit of spans and of the page map */
#define CHUNK_SHIFT 15
#define SPAN_MAX_UNITS 32 /* a span is 1..32 units: up to 1 MiB */
/* Classes above this many bytes take spans of one block or more (those up
 * to it, eight or more): a few 128 KiB buffers must not pin a megabyte. */
#define SPAN_FEW_ABOVE 65536

/* A span's descriptor (called a chunk: a span of one unit holds the classes
 * up to 2 KiB). It lives in a slab cache, not in the span, so the
 * descriptors of all spans sit together in a few hot cache lines and kfree
 * never reads the span's own (usually cold) memory. */
struct chunk {
    /* First cache line: everything kfree reads on its fast path, written
     * only when the span is carved or holed. Nothing that refills and
     * flushes write is here: a CPU freeing into a span that another CPU
     * refills from would miss on this line at every refill (2 threads). */
    uintptr_t base; /* the span: CHUNK_SIZE-aligned, its list header first */
    uint32_t cls;
    uint32_t units; /* the span's length in CHUNK_SIZE units (set when made) */
    uint64_t holes;   /* pages given back while the span is in use (heap_holes.c): a
                         free of a block here leaves kfree's fast path */
    uint64_t fast_w;     /* the short block-start test (chunk_fast_start): its
                            multiplier | limit << 32, one word; limit 0: not covered */
    uint64_t div_mul;    /* the exact test (chunk_is_block_start): multiplier, */
    uint32_t div_e;      /* and e = div_mul * stride - 2^64 */
    uint32_t stride;     /* payload + header (16 when hardening, else 0) */
    uint64_t fast_limit; /* ncarved * div_e for the exact test without the lock;
                            0 when hardening sends every free to the checked path */
    uint32_t total;      /* blocks the span holds (set when made) */
    uint32_t pad0;
    /* The rest: refills, releases, statistics, checks (under the heap lock). */
    void *free;       /* free blocks (payload pointers), linked through word 0 */
    uint32_t used;    /* blocks out of the span: in use or in a magazine */
    uint32_t pad1;
    uint64_t ncarved; /* blocks below the carve pointer: handed out at least once */
    struct chunk *next; /* the class's list of chunks with free blocks */
    struct chunk *prev;
    uintptr_t carve;             /* blocks from here up were never handed out */
    uintptr_t limit;             /* the end of the last block */
    struct chunk *anext, *aprev; /* every span of the class (full ones too) */
    uint32_t noted;              /* counted in idle_noted (it was kept empty) */
    uint32_t nholed;             /* blocks off the free list for the holes */
    uint32_t holes_seen;         /* used at the holes' last look (0: none since the refill) */
};
_Static_assert(offsetof(struct chunk, fast_limit) < 64 && offsetof(struct chunk, free) >= 64,
               "kfree's fields share a line, and the counters refills write are not in it");

/* The page map: a three-level radix tree over the 48-bit address space,
 * one entry per CHUNK_SIZE unit, naming the span that holds it (NULL for
 * list memory), and which of the unit's pages are decommitted. Missing
 * nodes point at shared empty ones, so a lookup is three loads and no
 * branch. The window (heap_map.c): the leaves of the MAP_WINDOW bytes from
 * where the first span was, in one array, so that a lookup there is two
 * dependent loads. */
#define MAP_VA_BITS 48
#define MAP_LEVEL_BITS 11
#define MAP_FAN (1u << MAP_LEVEL_BITS)
_Static_assert(MAP_VA_BITS - CHUNK_SHIFT == 3 * MAP_LEVEL_BITS, "three levels cover the keys");
/* Beside each unit's span, copies of what kfree's fast path reads from the
 * span's descriptor (map_set and map_set_fast, under the heap lock): its
 * class and its fast word. The three loads then share an index and none waits for
 * another, where the descriptor's waited for the span pointer (the random
 * mix ran 11% faster so, the wide one 9%). */
struct hmap_leaf {
    struct chunk *ch[MAP_FAN];
    uint64_t fast[MAP_FAN]; /* the span's fast_w for its first unit, else 0 */
    uint8_t cls[MAP_FAN];   /* the span's class (while ch is set) */
    uint8_t dmask[MAP_FAN]; /* bit i: page i of the unit is decommitted (heap_release.c) */
};
_Static_assert(CHUNK_SIZE / PAGE_SIZE == 8, "a unit's pages fit a byte of dmask");
struct hmap_mid {
    struct hmap_leaf *leaf[MAP_FAN];
};

#define CHUNK_POOL_MAX 4 /* free one-unit chunks kept for any class before the list gets them */

struct bclass {
    struct chunk *partial; /* chunks with a free block; the head serves */
    struct chunk *ptail;   /* its tail: chunks that were full queue here */
    uint32_t size;         /* payload bytes */
    uint32_t nchunks;
    struct chunk *all; /* every span of the class */
    uint32_t units;    /* span length in CHUNK_SIZE units */
    uint32_t per_span; /* blocks per span */
};

/* A magazine (Bonwick & Adams): a stack of `cap` free blocks of one class
 * (or objects of one slab cache) that a CPU pops and pushes without a lock.
 * rounds and the slots are written only by the CPU that holds the magazine
 * (relaxed atomics: plain moves, but a confirmation scan on another CPU may
 * read them); a magazine in the depot belongs to the depot's lock. */
struct mag {
    uint32_t rounds; /* blocks held: obj[0..rounds) */
    uint32_t cap;    /* 0: the shared empty placeholder (every pop and push misses) */
    uint32_t size;   /* the class's payload bytes (for the live count on push) */
    uint32_t cls;
    struct mag *next; /* depot lists */
    void *obj[];
};
extern struct mag heap_mag_none; /* cap 0: a CPU that has no magazine yet */

/* Relaxed loads and stores of words another CPU may access at the same
 * time: single moves either way. Volatile (as the kernel's READ_ONCE and
 * WRITE_ONCE are) because GCC folds no displacement into an indexed
 * __atomic access, which cost an add on each magazine slot's; the
 * __atomic forms under ThreadSanitizer, which sees only those. */
#ifdef __SANITIZE_THREAD__
#define MAG_LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define MAG_ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#else
#define MAG_LD(x) (*(const volatile __typeof__(x) *)&(x))
#define MAG_ST(x, v) ((void)(*(volatile __typeof__(x) *)&(x) = (v)))
#endif

/* A load of a page-map node's pointer, whose target the next load reads:
 * the address dependency orders the two on every CPU Pagoda runs on (as
 * the kernel's rcu_dereference relies on), so it is a plain move; acquire
 * under ThreadSanitizer, which does not follow dependencies. The writer
 * publishes with a release store (heap_map.c). */
#ifdef __SANITIZE_THREAD__
#define MAP_LD_DEP(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#else
#define MAP_LD_DEP(x) MAG_LD(x)
#endif

/* The front end, one per CPU: what the allocation and free fast paths touch.
 * Each class has a loaded and a previous magazine (heap_mag.c). A free from
 * another CPU lands in the freeing CPU's magazine. The live counters are per
 * CPU (a CPU's may wrap below zero: another CPU allocated what it freed);
 * kheap_stats sums them. */
/* A CPU's front for big (list) blocks (heap_big.c): the blocks it handed
 * out lately, whose frees on it need no lock, and the freed ones it keeps
 * whole for its next requests of about their size. */
#define BIG_OUT 8   /* blocks handed out that a free on this CPU may find */
#define BIG_SLOTS 4 /* freed blocks kept */
struct big_front {
    void *out[BIG_OUT];   /* NULL or a live block (owner bits in its tag name the slot) */
    size_t outcap[BIG_OUT]; /* its capacity (read here: a neighbour's free writes its header) */
    void *blk[BIG_SLOTS]; /* kept blocks, oldest first: flagged USED, FREE check word */
    size_t cap[BIG_SLOTS];
    uint32_t n;       /* blocks kept */
    uint32_t hand;    /* the out[] slot the next eviction takes */
    size_t bytes;     /* their capacities (others read it, relaxed) */
    size_t live;      /* capacities of blocks taken from blk[] minus those put there (may wrap) */
    size_t objects;   /* and their count (may wrap) */
    int score;        /* hits lately minus misses: at 0 or below, one block on trial */
    unsigned trial;   /* frees while the score is low: every 16th keeps its block */
};

struct heap_front {
    struct mag *loaded[KHEAP_NCLASSES];
    struct mag *prev[KHEAP_NCLASSES];
    size_t harden_live; /* hardening: requested bytes of small blocks handed out */
    uint64_t sample_countdown; /* kmalloc calls to kfence's next sample (kfence.c arms it) */
    struct big_front big;
} __attribute__((aligned(2048))); /* a power of two: &heap_fronts[cpu] is a shift, not a multiply */
extern struct heap_front heap_fronts[SMP_MAX_CPUS];

/* The depot of one class (heap_depot.c): full and empty magazines under
 * its own lock (LOCK_LEVEL_HEAP_DEPOT, inner to the heap lock), and the
 * capacity new magazines get, which grows with contention. One cache line
 * (or two) per class, so two CPUs trading in different classes do not share
 * one. */
/* Bonwick's adaptation of a magazine size (heap_depot.c), for a kmalloc
 * class's depot and a slab cache alike: lock waits counted over a window of
 * depot trips grow the rounds of the new magazines. */
struct mag_grow {
    uint32_t cap, cap_max; /* rounds of a new magazine (read unlocked, relaxed); its bound */
    uint32_t contended;    /* lock waits in this window (relaxed atomic: counted before the lock) */
    uint32_t window;       /* trips in this window */
    uint32_t grown;        /* times cap grew (statistics, tests) */
};

struct mag_depot {
    spinlock_t lock;
    struct mag *full, *empty;
    uint32_t nfull, nempty;
    uint32_t want; /* full magazines worth keeping: up on a refill that found none, down on a
                      flush (heap_mag.c) */
    struct mag_grow grow;
} __attribute__((aligned(64)));

struct heap {
    spinlock_t lock; /* everything below the fronts but the depots (LOCK_LEVEL_HEAP) */
    struct heap_source *src;
    int harden;
    uint32_t secret;
    size_t small_limit; /* requests below this are small blocks (0 before init) */
    size_t fast_limit;  /* ... and take kmalloc's fast path: small_limit, 0 when hardening */
    size_t rz, bhdr;    /* redzone bytes and small-block header bytes (hardening) */
    struct bclass cls[KHEAP_NCLASSES]; /* the span layer behind the magazines */
    struct mag_depot depot[KHEAP_NCLASSES];
    size_t nmags; /* magazines allocated */
    /* list allocator */
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[FL_COUNT];
    struct lfree *bins[FL_COUNT][SL_COUNT];
    struct lseg *segs;
    uintptr_t lo, hi; /* bounds of all segments, for a quick pointer check */
    size_t free_bytes, free_blocks, used_blocks;
    size_t heap_bytes, peak_heap_bytes, grows, shrinks;
    /* small blocks */
    struct chunk *pool; /* free one-unit chunks, linked through next */
    size_t npool;
    size_t nspans, map_nodes;
    struct hmap_mid *root[MAP_FAN]; /* the page map */
    uintptr_t win_base;             /* the window: its start (MAP_LEAF_BYTES-aligned, or
                                       MAP_WIN_NONE before the anchor), */
    struct hmap_leaf *win[MAP_FAN]; /* and the tree's leaves for it (or the empty one) */
    /* release (heap_release.c) */
    size_t decommitted;          /* bytes inside free list blocks given back to the source */
    size_t span_hole_bytes;      /* bytes of spans in use given back (heap_holes.c) */
    size_t idle_noted;           /* bytes of spans kept empty (an over-estimate) */
    size_t idle_after;           /* idle bytes the last run left: the next waits for more */
    size_t big_free;             /* the biggest list block freed lately (halved per run) */
    size_t releases, released;   /* policy runs, bytes they gave back */
    bool releasing;
    /* totals */
    size_t live_bytes, peak_live_bytes, list_live_objects;
    size_t span_out_bytes; /* small blocks out of their spans, in use or in a magazine
                              (class sizes): block.c's span_alloc and span_free */
};
extern struct heap kheap;
extern uint8_t heap_class_of[KHEAP_SMALL_MAX / 16 + 1];
extern const uint32_t heap_class_size[KHEAP_NCLASSES];

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
/* Give every free segment tail back to the source beyond its first `keep`
 * bytes (keep 0: whole free segments too); returns bytes. */
size_t list_trim_all(struct heap *h, size_t keep);
void list_map(size_t size, unsigned *fl, unsigned *sl);

/* block.c */
void block_init(struct heap *h);
struct chunk *block_refill(struct heap *h, unsigned cls);
/* The head chunk's free list just ran dry: carve more blocks or, if it is
 * full, take it off the class's list. */
void block_dry(struct heap *h, struct bclass *k, struct chunk *ch);
void block_release(struct heap *h, struct chunk *ch);
/* Give every pooled chunk, and every empty span that is not its class's
 * only one (all of them if `all`), back to the list allocator. */
void block_release_empty(struct heap *h, bool all);

/* heap_release.c: the release policy (see there). */
void heap_release_check(struct heap *h);
size_t heap_idle_bytes(const struct heap *h);
/* The idle bytes at which the next run starts. */
size_t heap_release_at(struct heap *h);
/* kfree gave a list block of `bytes` back. */
void heap_note_big_free(struct heap *h, size_t bytes);
size_t heap_release_run(struct heap *h, bool all);
/* Pages [a, b) of a free list block are about to be written: make sure they
 * are backed. False if the source could not commit them. */
bool heap_commit(struct heap *h, uintptr_t a, uintptr_t b);
/* Forget decommitted pages in [a, b): they go back with a shrink. */
void heap_forget_decommitted(struct heap *h, uintptr_t a, uintptr_t b);
size_t block_poison_end(const struct heap *h, size_t size);

/* The running CPU's index: one GS-relative load and one more in the kernel;
 * on the host an initial-exec TLS load (index + 1, 0 until the thread's
 * first call, which asks this_cpu(), registers the exit drain and sets
 * heap_tls_front). */
#ifdef PAGODA_KERNEL
static inline unsigned heap_cpu(void)
{
    return this_cpu()->index;
}
#else
extern __thread unsigned heap_tls_cpu __attribute__((tls_model("initial-exec")));
extern __thread struct heap_front *heap_tls_front __attribute__((tls_model("initial-exec")));
unsigned heap_cpu_attach(void);
static inline unsigned heap_cpu(void)
{
    unsigned i = heap_tls_cpu;
    if (unlikely(i == 0))
        i = heap_cpu_attach();
    return i - 1;
}
#endif

/* The caller's front, or NULL for a host thread that has no stand-in CPU
 * yet (never in the kernel): for the fast paths, which must not call out
 * (they would hold values across the call). On the host it is one TLS
 * load: kmalloc and kfree index everything from it, where an index cost
 * them a sign extension and a shift apiece. */
static inline struct heap_front *heap_front_attached(void)
{
#ifdef PAGODA_KERNEL
    return &heap_fronts[heap_cpu()];
#else
    return heap_tls_front;
#endif
}

/* The one accessor for the front the caller's CPU uses. */
static inline struct heap_front *heap_front(struct heap *h)
{
    UNUSED(h);
    return &heap_fronts[heap_cpu()];
}

/* Bytes handed out, under the lock: the list blocks' (h->live_bytes) and
 * the change each CPU's big-block front made to them (heap_big.c), plus
 * the small blocks out of their spans (h->span_out_bytes), which counts
 * those cached in magazines too; when hardening, the small blocks'
 * requested bytes instead (exact). O(CPUs): for the peak and the release
 * policy's thresholds. kheap_stats takes the cached blocks off. */
size_t heap_out_bytes(struct heap *h);
/* Under the lock: note the peak of heap_out_bytes. */
void heap_note_peak(struct heap *h);

static inline uintptr_t map_key(const void *p)
{
    return ((uintptr_t)p & (((uintptr_t)1 << MAP_VA_BITS) - 1)) >> CHUNK_SHIFT;
}

/* The span holding p, or NULL if p is not in one: a page-map lookup that
 * reads no heap memory. Without the lock (kfree): a new node is published
 * with a release store (heap_map.c), so the acquire loads see it whole
 * (plain loads on x86). */
#define MAP_LEAF_BYTES ((uintptr_t)CHUNK_SIZE << MAP_LEVEL_BITS) /* 64 MiB */
#define MAP_WINDOW (MAP_LEAF_BYTES << MAP_LEVEL_BITS)              /* 128 GiB */
/* The window's base before the anchor: in the non-canonical hole, so that
 * no heap pointer falls in the window (heap_map.c). */
#define MAP_WIN_NONE ((uintptr_t)1 << 47)

static inline const struct hmap_leaf *map_leaf_of(const struct heap *h, uintptr_t k)
{
    const struct hmap_mid *m = MAP_LD_DEP(h->root[k >> (2 * MAP_LEVEL_BITS)]);
    return MAP_LD_DEP(m->leaf[(k >> MAP_LEVEL_BITS) & (MAP_FAN - 1)]);
}

/* p's unit within the window: below MAP_WINDOW >> CHUNK_SHIFT iff p lies
 * in it. Its base and leaves are published before any span there holds a
 * block (heap_map.c). */
static inline uintptr_t map_win_unit(const struct heap *h, const void *p)
{
    return ((uintptr_t)p - MAG_LD(h->win_base)) >> CHUNK_SHIFT;
}

/* The leaf of window unit w (its entry: w & (MAP_FAN - 1)). Two dependent
 * loads to the span where the tree takes three: the random mix ran 10%
 * faster so. */
static inline const struct hmap_leaf *map_win_leaf(const struct heap *h, uintptr_t w)
{
    return MAP_LD_DEP(h->win[w >> MAP_LEVEL_BITS]);
}

static inline struct chunk *map_win_chunk(const struct heap *h, uintptr_t w)
{
    return MAG_LD(map_win_leaf(h, w)->ch[w & (MAP_FAN - 1)]);
}

/* The span of p through the tree (its keys drop the address's top bits). */
static inline struct chunk *map_tree_chunk(const struct heap *h, const void *p)
{
    uintptr_t k = map_key(p);
    return MAG_LD(map_leaf_of(h, k)->ch[k & (MAP_FAN - 1)]);
}

/* p's span if p lies outside the window, else NULL (after kfree's window lookup:
 * the tree, for an address within the heap's bounds only). */
static inline struct chunk *chunk_outside_window(const struct heap *h, const void *p)
{
    return map_win_unit(h, p) < MAP_WINDOW >> CHUNK_SHIFT ? NULL : map_tree_chunk(h, p);
}

static inline struct chunk *chunk_of(const struct heap *h, const void *p)
{
    uintptr_t w = map_win_unit(h, p);
    return likely(w < MAP_WINDOW >> CHUNK_SHIFT) ? map_win_chunk(h, w) : map_tree_chunk(h, p);
}

/* heap_map.c: point the map at ch (NULL to clear) for `units` units from
 * base, with ch's class copied and the fast word's copy 0; false if a node
 * could not be allocated (nothing changed then). */
void map_init(struct heap *h);
bool map_set(struct heap *h, uintptr_t base, uint32_t units, struct chunk *ch);
/* Copy ch's fast word into its first unit's entry (after map_set; under
 * the heap lock, whenever the word changes). */
void map_set_fast(struct heap *h, const struct chunk *ch);
/* Unit u of ch maps to ch, with copies that match its descriptor
 * (kheap_check; under the heap lock). */
bool map_unit_current(const struct heap *h, const struct chunk *ch, uint32_t u);
void map_trim(struct heap *h);
/* The leaf holding address a's unit, allocated if `make` (NULL if absent or
 * out of memory); never the shared empty leaf. */
struct hmap_leaf *map_leaf(struct heap *h, uintptr_t a, bool make);
/* True if the page holding a is decommitted. */
static inline bool map_page_decommitted(const struct heap *h, uintptr_t a)
{
    uintptr_t k = map_key((const void *)a);
    return (MAG_LD(map_leaf_of(h, k)->dmask[k & (MAP_FAN - 1)]) >> ((a >> PAGE_SHIFT) & 7)) & 1;
}

/* The first block of a chunk (its header, when hardening): its base. */
static inline uintptr_t chunk_first(const struct chunk *ch)
{
    return ch->base;
}

/* The block-start tests (level 0's free checks; HEAP_CHECKED). A block
 * start is first + i * stride with i below the carved count. Both tests
 * are a multiply and a compare, with no rotate, no shift and no division
 * (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019,
 * give the divisibility half):
 *
 * Exact (chunk_is_block_start, chunk_carved_start). With m = floor(2^64 /
 * stride) + 1, m * stride is 2^64 + e for some e in [1, stride], so the
 * product q = (p - first) * m, modulo 2^64, is exactly i * e when p is the
 * i-th block start, and at least m - stride * e otherwise: a remainder r
 * of 1..stride-1 adds r * m, and p below first wraps to -r. Every i * e of
 * a span (at most 2^11 blocks, e at most 2^17) sits far below that (m is
 * at least 2^47), so q < ncarved * e says both that p is a block start and
 * that it was carved.
 *
 * Short (chunk_fast_start), kfree's fast path: the same in 32 bits on the
 * offset within the 32 KiB unit, for a span of one unit (every class up to
 * 3.5 KiB; its blocks start at the unit, block.c). With x = p mod 2^15 and
 * m32 = floor(2^32 / stride) + 1 = (2^32 + e32) / stride, the block is
 * carved iff x * m32 < ncarved * e32 (mod 2^32): x < 2^15 and stride <
 * 2^12 keep every i * e32 below 2^15 and every remainder's r * m32 above
 * 2^20, without a second wrap; the unit's last 16 bytes (the next list
 * block's header) lie past its last block. It reads one word of the
 * descriptor's first line (multiplier and limit, so that a racing update
 * is never half seen) and needs neither first nor a 64-bit constant. Longer spans
 * and hardening get a limit of 0 and take the exact test (whose limit is 0
 * when hardening).
 *
 * The limits are read without the lock (carving raises them under it): a
 * stale one only sends a free of a block just carved to the slow path,
 * which decides under the lock. */
static inline uint64_t heap_div_mul(uint64_t d)
{
    uint64_t m = UINT64_MAX / d; /* no 128-bit division: the kernel has no libgcc */
    if (UINT64_MAX % d == d - 1) /* d divides 2^64: a power of two */
        m++;
    return m + 1;
}

/* The short test's constants for ch's current stride and carve; 0 (the
 * exact test and the holes check decide) for a span with holes. */
static inline void chunk_set_fast(struct chunk *ch, bool harden)
{
    uint64_t d = ch->stride, m = (1ull << 32) / d + 1, e = m * d - (1ull << 32);
    uint64_t limit = ch->ncarved * e;
    bool fast = !harden && ch->units == 1 && !ch->holes && limit <= UINT32_MAX;
    __atomic_store_n(&ch->fast_w, fast ? m | limit << 32 : 0, __ATOMIC_RELAXED);
}

/* p is a carved block start of the span whose fast word is w (false also
 * when the span is not one the short test covers). */
static inline bool fast_word_start(uint64_t w, const void *p)
{
    uint32_t x = (uint32_t)(uintptr_t)p & (CHUNK_SIZE - 1);
    return x * (uint32_t)w < (uint32_t)(w >> 32);
}

static inline bool chunk_fast_start(const struct chunk *ch, const void *p)
{
    return fast_word_start(__atomic_load_n(&ch->fast_w, __ATOMIC_RELAXED), p);
}

/* p is a carved block start of ch, by the exact test against the limit
 * kfree reads without the lock (0 when hardening). */
static inline bool chunk_carved_start(const struct chunk *ch, const void *p)
{
    uint64_t q = (uint64_t)((uintptr_t)p - ch->base) * ch->div_mul;
    return q < __atomic_load_n(&ch->fast_limit, __ATOMIC_RELAXED);
}

#if HEAP_CHECKED
/* The same, under the heap lock, against ncarved (any level). A free block
 * holds its span's free key in its second word (kmalloc clears it), so a
 * second kfree finds it there; the key is then confirmed by walking the
 * chunk's free list, so user data that happens to equal it costs time,
 * never a false report. The key is the descriptor's address: kfree holds
 * it in a register already (no load), it is never 0 (which kmalloc
 * writes), and only the heap's own structures hold it. */
static inline bool chunk_is_block_start(const struct chunk *ch, const void *p)
{
    uint64_t q = (uint64_t)((uintptr_t)p - ch->base) * ch->div_mul;
    return q < (uint64_t)MAG_LD(ch->ncarved) * ch->div_e;
}

/* What a free block of ch holds in its second word. */
static inline uint64_t chunk_free_key(const struct chunk *ch)
{
    return (uint64_t)(uintptr_t)ch;
}
#endif

/* slab.c: the descriptors' cache (not in the global list), reset by kheap_init. */
struct chunk *slab_chunk_desc_alloc(void);
void slab_chunk_desc_free(struct chunk *ch);
size_t slab_chunk_desc_reap(void);
void slab_heap_reset(void);

/* heap_mag.c: the magazine layer (see there). The _slow functions run when
 * the loaded magazine is empty / full; they take the class's depot lock,
 * and the heap lock when blocks move to or from the spans. */
void mag_init(void);
void *mag_alloc_slow(struct heap *h, struct heap_front *f, unsigned cls);
void mag_free_slow(struct heap *h, struct heap_front *f, struct chunk *ch, void *p);
/* Under the heap lock: flush every depot magazine back to the spans and
 * free the empty ones (the release policy's first step). */
void mag_depot_drain(struct heap *h);
/* Under the heap lock: an empty magazine of class cls at the depot's
 * current capacity (the depot's, or a new list block), or NULL. */
struct mag *heap_mag_new(struct heap *h, unsigned cls);
/* Under the heap lock: free magazines linked through next. */
void mag_destroy_list(struct heap *h, struct mag *m);
/* Every block of m back to its span (under the heap lock); true if idle
 * memory grew. */
bool mag_flush(struct heap *h, struct mag *m);

/* heap_depot.c: the depots' locks, exchanges and capacity (see there). */
void depot_init(struct heap *h);
/* Take l for a depot trip of g's class or cache, counting a wait as contention. */
void mag_grow_lock(spinlock_t *l, struct mag_grow *g);
/* Under the depot's lock: a trip happened; grow g->cap if the window's waits say so. */
void mag_grow_adapt(struct mag_grow *g);
/* Take d's lock, counting a wait as contention. */
void depot_lock(struct mag_depot *d);
/* Take the heap lock for a refill or flush of d's class, counting a wait. */
void depot_heap_lock(struct heap *h, struct mag_depot *d);
/* Under d's lock: keep the empty magazine m, or link it onto *retired (the
 * depot has enough, or m predates a capacity growth) for the caller to
 * destroy under the heap lock once d's lock is dropped. */
void depot_put_empty(struct mag_depot *d, struct mag *m, struct mag **retired);
/* Under d's lock: an empty magazine of the current capacity, or NULL
 * (older ones met on the way go onto *retired). */
struct mag *depot_get_empty(struct mag_depot *d, struct mag **retired);
/* Under no lock: load a full magazine from the depot, giving it the empty
 * previous one (this CPU's prev and loaded are both empty); false if the
 * depot has none (want grows then). */
bool depot_load_full(struct heap *h, struct heap_front *f, unsigned cls);
/* Under no lock: hand the full previous magazine to the depot (if it wants
 * one) and load an empty one, by the depot lock alone; false if this needs
 * the heap lock (no empty magazine, or pm must be flushed). */
bool depot_trade_full(struct heap *h, struct heap_front *f, unsigned cls);
/* Under the heap lock: flush and free the calling CPU's magazines. Not from
 * inside a magazine refill (the list allocator's own release run). */
void mag_cpu_drain(struct heap *h);
/* Under the heap lock: is p in any magazine (any CPU's, or the depot)?
 * Takes the class's depot lock inside, so no magazine moves meanwhile. */
bool mag_holds(struct heap *h, unsigned cls, const void *p);
/* Under the heap lock (takes the depot lock inside): blocks of class cls
 * cached in magazines. */
size_t mag_cached(struct heap *h, unsigned cls);
/* Under the heap lock, on the span layer: a free block back to its span;
 * true if idle memory grew (the caller runs heap_release_check). */
bool span_free(struct heap *h, struct chunk *ch, void *p);
/* Push p, a block of ch, on ch's free list as free (the level's marks). */
void block_push_free(struct heap *h, struct chunk *ch, void *p);
/* Store ch's limits for kfree's lock-free block-start tests: 0 when
 * hardening (every free to the locked path) or when ch has holes (every
 * free out of line, to the holes check). */
void block_set_limits(struct heap *h, struct chunk *ch);

/* heap_holes.c, under the heap lock. span_holes_make decommits ch's pages
 * whose blocks are all free (if ch is at most a quarter in use) and returns
 * the bytes; span_holes_scan does it for every span. span_holes_fill
 * commits the holes again and puts their blocks back (true if any came
 * back). span_holes_release hands an empty span's holes to the list
 * allocator (false: its first page could not be committed; keep it). */
size_t span_holes_make(struct heap *h, struct chunk *ch);
size_t span_holes_scan(struct heap *h);
bool span_holes_fill(struct heap *h, struct chunk *ch);
bool span_holes_release(struct heap *h, struct chunk *ch);
/* p, a block of ch, overlaps one of ch's holes (so it is free). */
bool span_hole_overlaps(const struct chunk *ch, const void *p);
/* Under the heap lock: a block of class cls from the spans, or NULL. */
void *span_alloc(struct heap *h, unsigned cls);

/* bump.c */
bool bump_contains(const void *p);
size_t bump_used(void);
void *bump_kmalloc(size_t size, size_t align);

/* Report a bad free or heap corruption at p: panic with the address and
 * what the heap can vouch for (the block's size and class, the requested
 * size when a verified header holds it), never unverified bytes. */
__attribute__((noreturn)) void heap_fail(const char *what, const void *p);

/* kmalloc.c, under the heap lock: check that p is a live list block (the
 * segment list vouches for its header first); its usable size, and through
 * tagp (if not NULL) the tag it checked. */
size_t list_live(struct heap *h, const void *p, uint64_t *tagp);

/* heap_harden.c: hardening levels 1 and 2 on one block (see kmalloc.c).
 * harden_alloc hands out a hardened block of capacity cap (small_size: the
 * class's, or 0 for a list block), verifying its free state; harden_verify
 * checks a live one (ch: its chunk, or NULL) and returns its requested size;
 * harden_free marks it free and poisons it. */
void harden_alloc(struct heap *h, void *p, size_t size, size_t small_size);
size_t harden_verify(struct heap *h, const void *p, const struct chunk *ch);
void harden_free(struct heap *h, void *p, const struct chunk *ch);

/* The hardening tag: the slack (capacity minus requested size) over the
 * check word. */
static inline uint64_t heap_tag(const struct heap *h, const void *p, size_t cap, size_t size)
{
    return ((uint64_t)(cap - size) << 32) | heap_check_word(h, p, HSTATE_ALLOC);
}

/* block.c's table for aligned requests: [a][c] is the smallest class at
 * or above c whose size 2^(a + 5) divides (32 B..4 KiB), or KHEAP_NCLASSES. */
#define HEAP_ALIGN_MIN_SHIFT 5
extern uint8_t heap_aligned_next[PAGE_SHIFT - HEAP_ALIGN_MIN_SHIFT + 1][KHEAP_NCLASSES];

/* The class for a request of size (below kheap.small_limit) at align (a
 * power of two above 16) whose blocks are all aligned, or KHEAP_NCLASSES if
 * none fits well: above 4 KiB, or rounding wastes more than a quarter of a
 * block bigger than align (block.c). Two table loads, no loop. */
static inline unsigned block_aligned_class(size_t size, size_t align)
{
    if (align > PAGE_SIZE)
        return KHEAP_NCLASSES;
    size = size ? size : 1;
    unsigned c = heap_aligned_next[__builtin_ctzl(align) - HEAP_ALIGN_MIN_SHIFT]
                                  [heap_class_of[(size + 15) >> 4]];
    if (c == KHEAP_NCLASSES)
        return c;
    size_t cs = heap_class_size[c];
    return cs * 3 <= size * 4 || cs <= align ? c : KHEAP_NCLASSES;
}

/* heap_big.c: the per-CPU fronts for big blocks (level 0 with the free
 * checks built in; see there). */
/* A kept block of `size` bytes or a little more for this CPU, or NULL. No lock. */
void *big_take(struct heap *h, size_t size);
/* Free p if this CPU handed it out lately (no lock): true when done; false
 * sends the caller to the locked free, p still live. */
bool big_put(struct heap *h, void *p);
/* Under the heap lock: the list just handed p out for a plain kmalloc on
 * this CPU (its check word written): note it in the CPU's front. */
void big_note(struct heap *h, void *p);
/* Under the heap lock: the live list block p changed size in place; its
 * front forgets it (its free takes the lock). */
void big_unnote(struct heap *h, void *p);
/* Under the heap lock, in a free of the live-looking block p whose tag
 * list_live checked: drop it from the front that handed it out. False:
 * that CPU's lock-free free took it first (so this is a second free). */
bool big_forget(struct heap *h, void *p, uint64_t tag);
/* Tests: called in a locked free of a list block between its check and
 * big_forget, where the owner CPU's lock-free free of the block may run. */
extern void (*volatile heap_big_window_hook)(void);
/* Under the heap lock: a plain request big_take could not serve (the
 * front learns that sizes do not repeat). */
void big_miss(struct heap *h);
/* Under the heap lock: the calling CPU's kept blocks back to the list; the
 * bytes. */
size_t big_drain(struct heap *h);
/* Bytes kept by every CPU; list blocks taken minus put back by every CPU's
 * front (relaxed sums, exact when the CPUs are quiet). */
size_t big_kept_bytes(void);
size_t big_objects(void);

/* list_cache.c: big list blocks freed lately, kept whole. The bytes it
 * holds; empty it into the bins (returns the bytes); keep the block b
 * kfree gave back (false: the caller merges it); a cached block for a
 * plain request of `want` block bytes, or NULL; forget everything
 * (list_init). list_free_block (list.c) puts a block in the bins. */
size_t list_cached_bytes(const struct heap *h);
size_t list_cache_flush(struct heap *h);
bool list_cache_put(struct heap *h, struct hhdr *b);
struct hhdr *list_cache_take(struct heap *h, size_t want);
void list_cache_reset(void);
void list_free_block(struct heap *h, struct hhdr *b);

#endif
