/*
 * The kernel heap: bump arena -> fixed-size blocks -> coalescing list
 * allocator (src/mm/bump.c, block.c, list.c, kmalloc.c), with per-CPU
 * magazines in front of the small classes (heap_mag.c). SMP-safe: any CPU
 * may free what another allocated. Not from interrupt handlers.
 *
 * Every pointer is 16-byte aligned. Every kfree is checked, at every level:
 * a double free or a pointer the heap never returned panics, naming the
 * address, size and class (PAGODA_HEAP_UNCHECKED compiles that out).
 * Hardening (levels 1-2, see below) adds a header check and a redzone
 * canary verified on free, and poison checked on reuse.
 */
#ifndef PAGODA_KMALLOC_H
#define PAGODA_KMALLOC_H

/* The heap is SMP-safe: any CPU (a thread, on the host) may call it at once,
 * through per-CPU magazines and locks behind them. */
#define PAGODA_HEAP_SMP 1

#include <pagoda/types.h>

/* 0 compiles the hardening out; 1 compiles it in (levels 1 and 2 below). */
#ifndef PAGODA_HEAP_HARDEN
#define PAGODA_HEAP_HARDEN 1
#endif
/* The level kheap_init(src, -1) picks: 0 off, 1 header check + canary +
 * cheap poison, 2 full poison. Level 1 measured 2.7x the time of a small
 * kmalloc+kfree pair (11 ns against 4) and 2.3x on the random mix, far above
 * the 10% budget, so normal boots run at 0; test boots (and `heap_harden=N`)
 * and the host tests turn it on. */
#ifndef PAGODA_HEAP_HARDEN_DEFAULT
#define PAGODA_HEAP_HARDEN_DEFAULT 0
#endif

/* Where the list allocator gets its memory. grow returns `bytes` (a multiple
 * of PAGE_SIZE) of fresh page-aligned RW memory, or NULL; shrink gives back
 * `bytes` of a region grow returned (ptr page-aligned): the region's last
 * bytes, or, only when commit is set, pages inside it that the heap keeps
 * reserved (their contents are lost). commit (optional) backs such pages
 * again with RW memory, false if it cannot; without it the heap only ever
 * gives back tails. */
struct heap_source {
    void *(*grow)(struct heap_source *src, size_t bytes);
    void (*shrink)(struct heap_source *src, void *ptr, size_t bytes);
    bool (*commit)(struct heap_source *src, void *ptr, size_t bytes);
};

/* A page source over one caller-owned memory block, handed out bottom-up
 * (host tests, the benchmark, and the kernel before the VMM). */
struct heap_region {
    struct heap_source src;
    uintptr_t base, brk, limit;
    size_t decommitted;                     /* bytes below brk given back */
    void (*discard)(void *ptr, size_t len); /* optional: drop their backing */
};
/* base and bytes are rounded inwards to pages. */
void heap_region_init(struct heap_region *r, void *base, size_t bytes);

/* (Re)start the heap over `src`, forgetting any previous heap (its memory is
 * not given back). harden: 0, 1 or 2, or -1 for PAGODA_HEAP_HARDEN_DEFAULT. Before
 * this, kmalloc serves from the static bump arena. */
void kheap_init(struct heap_source *src, int harden);

/* True once kheap_init has given the heap a page source. */
bool kheap_ready(void);

/* size bytes, 16-byte aligned, or NULL. kmalloc(0) returns a unique pointer. */
void *kmalloc(size_t size);
/* kmalloc, zero-filled. */
void *kzalloc(size_t size);
/* n * size bytes zero-filled; NULL if the product overflows. */
void *kcalloc(size_t n, size_t size);
/* Resize as C's realloc: contents kept up to the smaller size; ptr NULL is
 * kmalloc(size); size 0 frees ptr and returns NULL. NULL on failure, with
 * ptr untouched. */
void *krealloc(void *ptr, size_t size);
/* Free a pointer from any k*alloc. NULL and bump-arena pointers are ignored;
 * a double or invalid free panics. */
void kfree(void *ptr);
/* size bytes at a multiple of align (a power of two up to 1 MiB; a page is
 * the promised maximum). Freed with kfree. NULL on failure or a bad align. */
void *kmalloc_aligned(size_t size, size_t align);
/* Bytes usable at ptr (the requested size when hardening, since the redzone
 * follows it; the block's capacity otherwise). */
size_t kmalloc_usable_size(const void *ptr);

/* The bump arena: `size` bytes at `align` (power of two, >= 16), forever.
 * Exhaustion panics: it is a boot-time bug. */
void *kbump_alloc(size_t size, size_t align);

#define KHEAP_NCLASSES 68      /* small size classes, 16..262144 bytes */
#define KHEAP_SMALL_MAX 262144 /* larger requests go to the list allocator */
#define KBUMP_SIZE KiB(16)

struct kheap_class_stats {
    uint32_t size;     /* payload bytes of one block */
    uint32_t chunks;   /* spans held */
    uint32_t span_bytes; /* bytes of one span */
    uint64_t live;     /* blocks in use */
    uint64_t capacity; /* blocks in the chunks held */
    uint64_t cached;   /* free blocks held in magazines (CPUs' and the depot's) */
    uint32_t mag_cap;  /* rounds a new magazine of the class gets (grows with contention) */
    uint32_t mag_grown; /* times contention grew it */
};

struct kheap_stats {
    size_t live_bytes; /* sum of kmalloc_usable_size over live pointers */
    size_t peak_live_bytes; /* the most handed out at once, counting small blocks
                               cached in the CPUs' magazines (level 0) */
    size_t heap_bytes; /* memory held from the page source now */
    size_t peak_heap_bytes;
    size_t heap_pages; /* heap_bytes / PAGE_SIZE */
    size_t live_objects;
    size_t list_free_bytes; /* free list-allocator bytes */
    size_t list_free_blocks;
    size_t list_used_blocks; /* incl. chunks of small blocks */
    size_t grows, shrinks;   /* page-source calls */
    size_t decommitted_bytes; /* pages inside free blocks given back (not in heap_bytes) */
    size_t span_hole_bytes;   /* free pages of spans still in use given back (neither) */
    size_t releases, released_bytes; /* release-policy runs and what they gave back */
    size_t map_nodes, pooled_chunks;
    size_t idle_bytes, release_at; /* the release policy's view now */
    size_t release_big;            /* its memory of big list blocks freed */
    size_t bump_used, bump_size;
    size_t mags, mag_cached; /* magazines allocated; free blocks they hold */
    size_t big_kept_bytes;   /* freed big blocks the CPUs keep for reuse */
    int harden;
    struct kheap_class_stats cls[KHEAP_NCLASSES];
};
void kheap_stats(struct kheap_stats *st);
/* Print the stats and the per-class table (slabinfo style). */
void kheap_print_stats(void);
/* Give back to the page source every empty span and every free tail of
 * the heap (kfree does the latter only past 256 KiB). Returns bytes. The
 * heap also gives memory back on its own (the release policy). */
size_t kheap_trim(void);
/* The release policy, run now as if idle memory had passed its threshold
 * (all: every empty span and every free page, not just down to the low
 * mark). For a caller that knows memory is short (the PMM running low).
 * Returns the bytes given back. */
size_t kheap_release(bool all);
/* Flush the calling CPU's magazines (kmalloc classes and slab caches) and
 * the depot back to the spans and slabs, and free the magazines. Blocks
 * cached there are free; this makes the spans see it. */
void kheap_mag_drain(void);
/* The idle loop's hook, `now` in the CPU's own timer ticks: a CPU idle
 * with blocks in its magazines drains them (kheap_mag_drain) at most once
 * per KHEAP_IDLE_DRAIN_TICKS, so the spans they pin can go back. */
#define KHEAP_IDLE_DRAIN_TICKS 100
void kheap_cpu_idle(uint64_t now);
/* The idle loops drain only while this is set. The in-kernel test runner
 * pauses them while a test runs: tests that count frames exactly must not
 * see another CPU's drain give heap pages back behind them. Pause returns
 * once no drain is running on any CPU. */
extern volatile bool kheap_idle_drain;
void kheap_idle_pause(void);
void kheap_idle_resume(void);
/* Free objects cached in CPU cpu's magazines now (kmalloc and slab). */
size_t kheap_mag_count(unsigned cpu);
/* Walk every heap structure and verify its invariants. 0, or -E_CORRUPT
 * after printing what is wrong. */
int kheap_check(void);

#endif
