/*
 * Private to the slab allocator (src/mm/slab.c, slab_mag.c, slab_stats.c).
 */
#ifndef PAGODA_MM_SLAB_INTERNAL_H
#define PAGODA_MM_SLAB_INTERNAL_H

#include <pagoda/slab.h>
#include <pagoda/spinlock.h>

#include "heap_internal.h"

#define SLAB_ONSLAB_MAX 512
#define SLAB_MAGIC 0x51ab51abu
#define SLAB_END 0xffffu
#define SLAB_ALLOCATED 0xfffeu /* index slot of an object handed out */
#define SLAB_CACHED 0xfffdu    /* ... of an object in a magazine: free */
#define SLAB_PAGE_BYTES (PAGE_SIZE - HDR_SIZE) /* on-slab: page minus list header */
#define SLAB_MIN_OBJECTS 8

enum { L_EMPTY, L_PARTIAL, L_FULL };

struct kbufctl {
    struct kbufctl *next; /* slab free list, or hash chain while allocated */
    uint8_t *buf;
    struct kslab *slab;
};

struct kslab {
    struct kslab *next, *prev;
    struct kmem_cache *cache;
    uint8_t *mem;  /* the first object */
    uint8_t *base; /* off-slab: the list block holding the objects */
    uint32_t inuse, total;
    uint32_t magic, list;
    struct kbufctl *free_bc;                    /* off-slab */
    uint16_t free_idx;                          /* on-slab */
    uint16_t idx[] __attribute__((aligned(8))); /* on-slab: next free index per object;
                                                  off-slab: the bufctls */
};

/* A CPU's two magazines of a cache (slab_mag.c), a cache line each. */
struct slab_cpu {
    struct mag *loaded, *prev;
} __attribute__((aligned(64)));

struct kmem_cache {
    spinlock_t lock;
    bool internal; /* the heap's own: the caller holds the heap lock */
    char name[32];
    size_t size, align;
    void (*ctor)(void *), (*dtor)(void *);
    bool offslab;
    uint32_t per_slab;
    size_t slab_bytes; /* memory per slab (on-slab: the page) */
    size_t first_off;  /* on-slab: first object's offset from the slab header */
    size_t color_max, color_next;
    struct kslab *lists[3];
    size_t nslabs, counts[3], live;
    struct kbufctl **hash;
    size_t hash_size, hash_count;
    struct kmem_cache *next;
    /* Magazines (slab_mag.c): grow.cap is 0 rounds for off-slab and
     * internal caches; it is read without the lock (relaxed) and only grows. */
    struct mag_grow grow;
    uint64_t recip; /* 2^32 / size, rounded up: an object's index by a multiply */
    struct mag *dfull, *dempty; /* the depot, under the lock */
    uint32_t nfull, nempty;
    struct slab_cpu cpu[SMP_MAX_CPUS];
};

static inline uint32_t list_for(const struct kslab *s)
{
    return s->inuse == 0 ? L_EMPTY : s->inuse == s->total ? L_FULL : L_PARTIAL;
}

extern struct kmem_cache *slab_caches;
extern spinlock_t slab_caches_lock;
extern struct kmem_cache slab_chunk_descs;

/* Under c's lock (or the heap's, for the internal cache): an object from the
 * slabs (its index slot SLAB_ALLOCATED), or NULL; an object back to its
 * slab, checked (its slot must be SLAB_ALLOCATED). */
void *slab_get(struct kmem_cache *c);
void slab_put(struct kmem_cache *c, void *obj);
/* Set up c's magazines (kmem_cache_create). */
void slab_mag_setup(struct kmem_cache *c);
/* Under c's lock: every magazine of c, every CPU's and the depot's, back to
 * the slabs (kmem_cache_destroy: nobody uses c any more); if !all (reap),
 * the calling CPU's and the depot's. */
void slab_mag_flush_all(struct kmem_cache *c, bool all);
/* Objects cached in c's magazines (under c's lock). */
size_t slab_mag_cached(const struct kmem_cache *c);
/* A panic with the cache's lock released (a recovered panic must not leave
 * it held). */
#define SLAB_PANIC(c, ...)                                                                         \
    do {                                                                                           \
        if (spin_held(&(c)->lock))                                                                 \
            spin_unlock(&(c)->lock);                                                               \
        panic(__VA_ARGS__);                                                                        \
    } while (0)

#endif
