/*
 * Object caches after Bonwick's slab allocator (src/mm/slab.c), on top of
 * the heap (kheap_init must have run), with per-CPU magazines. SMP-safe;
 * not from interrupt handlers.
 */
#ifndef PAGODA_SLAB_H
#define PAGODA_SLAB_H

#include <pagoda/types.h>

struct kmem_cache;

/* A cache of `size`-byte objects aligned to `align` (a power of two; 0 means
 * 16). ctor runs once when an object enters the cache (a new slab), dtor once
 * when it leaves (reap/destroy); either may be NULL. Objects must be freed in
 * their constructed state. NULL if out of memory or arguments are bad. */
struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
                                     void (*ctor)(void *obj), void (*dtor)(void *obj));
/* A constructed object, or NULL when memory is exhausted. */
void *kmem_cache_alloc(struct kmem_cache *c);
/* Give obj back to its own slab. NULL is ignored; an object of another
 * cache, a double free or a pointer never handed out panics. */
void kmem_cache_free(struct kmem_cache *c, void *obj);
/* Destroy the empty slabs (dtor on each object), giving their memory back,
 * after flushing the calling CPU's magazines and the depot into them.
 * Returns the number of slabs freed. */
size_t kmem_cache_reap(struct kmem_cache *c);
/* Reap every cache; returns slabs freed. */
size_t kmem_cache_reap_all(void);
/* Free a cache with no objects allocated (panics otherwise). */
void kmem_cache_destroy(struct kmem_cache *c);

struct kmem_cache_stats {
    size_t objsize, per_slab, slab_bytes;
    size_t live, slabs, full, partial, empty;
    size_t cached; /* free objects held in magazines (counted in live's slabs, not in live) */
    size_t mag_cap, mag_grown; /* rounds of a new magazine (0: none), times contention grew it */
    bool offslab;
};
void kmem_cache_stats(const struct kmem_cache *c, struct kmem_cache_stats *st);
/* Verify the cache's lists and counters: 0 or -E_CORRUPT (printed). */
int kmem_cache_check(const struct kmem_cache *c);
/* Flush the calling CPU's slab magazines back to their slabs (kheap_mag_drain
 * calls it). */
void slab_mag_drain(void);
/* Objects cached in CPU cpu's slab magazines. */
size_t slab_mag_count(unsigned cpu);
/* The /proc/slabinfo-style table of every cache. */
void kmem_cache_print_info(void);

#endif
