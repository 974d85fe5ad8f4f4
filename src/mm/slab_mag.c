/*
 * Per-CPU magazines in front of the slab caches (Bonwick & Adams, 2001):
 * the same design as the heap's (heap_mag.c, whose theory applies), per
 * cache, with the cache's lock over its depot.
 *
 * kmem_cache_alloc pops from the CPU's loaded magazine, kmem_cache_free
 * pushes onto it: objects stay constructed while cached. When the loaded
 * magazine is empty or full, the CPU swaps it with its previous one if that
 * can serve; otherwise it takes the cache's lock and exchanges with the
 * depot (full and empty magazines), filling from the slabs when the depot
 * has no full one, and flushing a full magazine to the slabs when the depot
 * already keeps SLAB_DEPOT_FULL. Magazines are kmalloc blocks (the heap's
 * lock is inner to a cache's). Off-slab caches (objects above 512 bytes)
 * and the heap's own descriptor cache have none: every call takes the lock.
 *
 * Double frees: an on-slab object's index slot (in its slab's header) says
 * SLAB_ALLOCATED while a caller holds it and SLAB_CACHED while a magazine
 * does, so a second free finds SLAB_CACHED and panics, whichever CPU's
 * magazine holds the first. The slot is written by the CPU that owns the
 * object at that moment (relaxed: two CPUs racing to free one object are
 * not caught). An object's index is found by a multiply (c->recip).
 *
 * Capacity, as for the heap's classes (heap_depot.c): a magazine starts at
 * SLAB_MAG_BYTES of objects (4 to 32 rounds). Every trip to the depot that
 * has to wait for the cache's lock (its trylock failed: another CPU holds
 * it) counts; 4 waits within 1,024 trips double the rounds of the cache's
 * new magazines (the heap's policy, mag_grow_adapt), up to SLAB_MAG_GROWN_BYTES (at most
 * 128 rounds). Older magazines serve on; an empty one of the old size is
 * freed when it comes back to the depot. On one CPU nothing waits, so
 * nothing grows.
 *
 * Statistics: kmem_cache_stats' `live` leaves cached objects out and
 * reports them as `cached`; slab_mag_drain flushes the calling CPU's.
 */
#include "slab_internal.h"

#define SLAB_DEPOT_FULL 2
#define SLAB_DEPOT_EMPTY 2
#define SLAB_MAG_BYTES 2048
#define SLAB_MAG_GROWN_BYTES 8192 /* what contention may grow a magazine to */
#define SLAB_MAG_ROUNDS_MAX 128

void slab_mag_setup(struct kmem_cache *c)
{
    if (c->offslab || c->internal)
        return;
    uint32_t n = (uint32_t)(SLAB_MAG_BYTES / c->size), max = (uint32_t)(SLAB_MAG_GROWN_BYTES / c->size);
    c->grow.cap = n < 4 ? 4 : n > 32 ? 32 : n;
    c->grow.cap_max = MAX(c->grow.cap, MIN(max, (uint32_t)SLAB_MAG_ROUNDS_MAX));
    c->recip = ((1ULL << 32) + c->size - 1) / c->size;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        c->cpu[i].loaded = c->cpu[i].prev = &heap_mag_none;
}

static struct kslab *slab_of(const void *obj)
{
    return (struct kslab *)(ALIGN_DOWN((uintptr_t)obj, (uintptr_t)PAGE_SIZE) + HDR_SIZE);
}

/* The index slot of a (verified) object. */
static uint16_t *slot_of(const struct kmem_cache *c, void *obj)
{
    struct kslab *s = slab_of(obj);
    return &s->idx[(((uintptr_t)obj - (uintptr_t)s->mem) * c->recip) >> 32];
}

/* Check obj without the lock, as slab_put does under it: in a slab of c, at
 * an object start, handed out. Marks it cached. */
static void check_and_cache(struct kmem_cache *c, void *obj)
{
    struct heap *h = &kheap;
    uintptr_t a = (uintptr_t)obj, lo = MAG_LD(h->lo);
    if (a - lo >= MAG_LD(h->hi) - lo)
        SLAB_PANIC(c, "kmem_cache_free(%s): %p is not a heap address", c->name, obj);
    /* A kmalloc span's block has no slab header, and a decommitted page of
     * a free list block is not mapped: neither may be read. */
    if (chunk_of(h, obj) || map_page_decommitted(h, a))
        SLAB_PANIC(c, "kmem_cache_free(%s): %p is not in a slab", c->name, obj);
    struct kslab *s = slab_of(obj);
    if (s->magic != SLAB_MAGIC)
        SLAB_PANIC(c, "kmem_cache_free(%s): %p is not in a slab", c->name, obj);
    if (s->cache != c)
        SLAB_PANIC(c, "kmem_cache_free(%s): %p belongs to cache %s", c->name, obj, s->cache->name);
    size_t off = a - (uintptr_t)s->mem, i = (off * c->recip) >> 32;
    if (a < (uintptr_t)s->mem || i >= s->total || i * c->size != off)
        SLAB_PANIC(c, "kmem_cache_free(%s): %p is not an object start (size %zu)", c->name, obj,
                   c->size);
    uint16_t v = MAG_LD(s->idx[i]);
    if (v != SLAB_ALLOCATED)
        SLAB_PANIC(c, "kmem_cache_free(%s): double free of %p (size %zu%s)", c->name, obj, c->size,
                   v == SLAB_CACHED ? "; the first free is in a magazine" : "");
    MAG_ST(s->idx[i], SLAB_CACHED);
}

static struct mag *mag_new(struct kmem_cache *c)
{
    struct mag *m;
    while ((m = c->dempty) != NULL) {
        c->dempty = m->next;
        c->nempty--;
        if (m->cap >= c->grow.cap)
            return m;
        kfree(m); /* of the size before a growth */
    }
    m = kmalloc(sizeof(*m) + c->grow.cap * sizeof(void *));
    if (m)
        *m = (struct mag){.cap = c->grow.cap, .size = (uint32_t)c->size};
    return m;
}

static void put_empty(struct kmem_cache *c, struct mag *m)
{
    if (c->nempty >= SLAB_DEPOT_EMPTY || m->cap < c->grow.cap) { /* (or of an old size) */
        kfree(m);
        return;
    }
    m->next = c->dempty;
    c->dempty = m;
    c->nempty++;
}

/* Under the lock: m's objects back to their slabs. */
static void flush(struct kmem_cache *c, struct mag *m)
{
    for (uint32_t i = 0; i < m->rounds; i++) {
        MAG_ST(*slot_of(c, m->obj[i]), SLAB_ALLOCATED);
        slab_put(c, m->obj[i]);
    }
    MAG_ST(m->rounds, 0);
}

__attribute__((noinline)) static void *alloc_slow(struct kmem_cache *c, struct slab_cpu *sc)
{
    struct mag *m = sc->loaded, *pm = sc->prev;
    if (pm->rounds) {
        MAG_ST(sc->loaded, pm);
        MAG_ST(sc->prev, m);
        m = pm;
    } else {
        mag_grow_lock(&c->lock, &c->grow);
        mag_grow_adapt(&c->grow);
        struct mag *full = c->dfull;
        if (full) {
            c->dfull = full->next;
            c->nfull--;
            if (pm->cap)
                put_empty(c, pm);
            MAG_ST(sc->prev, m);
            MAG_ST(sc->loaded, full);
            m = full;
        } else {
            /* None yet, or one of the size before a growth (empty: freed). */
            if (m->cap < c->grow.cap && (full = mag_new(c)) != NULL) {
                if (m->cap)
                    kfree(m);
                MAG_ST(sc->loaded, full);
                m = full;
            }
            if (!m->cap) { /* no magazine: straight from the slabs */
                void *p = slab_get(c);
                spin_unlock(&c->lock);
                return p;
            }
            uint32_t n = 0;
            void *q;
            while (n < m->cap && (q = slab_get(c)) != NULL) {
                MAG_ST(*slot_of(c, q), SLAB_CACHED);
                MAG_ST(m->obj[n++], q);
            }
            MAG_ST(m->rounds, n);
            if (!n) {
                spin_unlock(&c->lock);
                return NULL;
            }
        }
        spin_unlock(&c->lock);
    }
    uint32_t n = m->rounds;
    void *p = m->obj[n - 1];
    MAG_ST(m->rounds, n - 1);
    MAG_ST(*slot_of(c, p), SLAB_ALLOCATED);
    return p;
}

__attribute__((noinline)) static void free_slow(struct kmem_cache *c, struct slab_cpu *sc,
                                                void *obj)
{
    struct mag *m = sc->loaded, *pm = sc->prev;
    if (pm->rounds < pm->cap) {
        MAG_ST(sc->loaded, pm);
        MAG_ST(sc->prev, m);
        m = pm;
    } else {
        mag_grow_lock(&c->lock, &c->grow);
        mag_grow_adapt(&c->grow);
        struct mag *e = mag_new(c);
        if (!e) { /* no magazine: straight to the slab */
            MAG_ST(*slot_of(c, obj), SLAB_ALLOCATED);
            slab_put(c, obj);
            spin_unlock(&c->lock);
            return;
        }
        if (pm->cap) {
            if (c->nfull < SLAB_DEPOT_FULL) {
                pm->next = c->dfull;
                c->dfull = pm;
                c->nfull++;
            } else {
                flush(c, pm);
                put_empty(c, pm);
            }
        }
        MAG_ST(sc->prev, m);
        MAG_ST(sc->loaded, e);
        m = e;
        spin_unlock(&c->lock);
    }
    uint32_t n = m->rounds;
    MAG_ST(m->obj[n], obj);
    MAG_ST(m->rounds, n + 1);
}

void *kmem_cache_alloc(struct kmem_cache *c)
{
    if (likely(MAG_LD(c->grow.cap))) {
        struct slab_cpu *sc = &c->cpu[heap_cpu()];
        struct mag *m = MAG_LD(sc->loaded);
        uint32_t n = MAG_LD(m->rounds);
        if (likely(n)) {
            void *p = MAG_LD(m->obj[n - 1]);
            MAG_ST(m->rounds, n - 1);
            MAG_ST(*slot_of(c, p), SLAB_ALLOCATED);
            return p;
        }
        return alloc_slow(c, sc);
    }
    if (c->internal) /* the heap lock is held */
        return slab_get(c);
    spin_lock(&c->lock);
    void *p = slab_get(c);
    spin_unlock(&c->lock);
    return p;
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
    if (!obj)
        return;
    if (likely(MAG_LD(c->grow.cap))) {
        check_and_cache(c, obj);
        struct slab_cpu *sc = &c->cpu[heap_cpu()];
        struct mag *m = MAG_LD(sc->loaded);
        uint32_t n = MAG_LD(m->rounds);
        if (likely(n < m->cap)) {
            MAG_ST(m->obj[n], obj);
            MAG_ST(m->rounds, n + 1);
            return;
        }
        free_slow(c, sc, obj);
        return;
    }
    if (c->internal) {
        slab_put(c, obj);
        return;
    }
    spin_lock(&c->lock);
    slab_put(c, obj);
    spin_unlock(&c->lock);
}

static void depot_flush(struct kmem_cache *c)
{
    for (struct mag *m = c->dfull, *next; m; m = next) {
        next = m->next;
        flush(c, m);
        kfree(m);
    }
    for (struct mag *m = c->dempty, *next; m; m = next) {
        next = m->next;
        kfree(m);
    }
    c->dfull = c->dempty = NULL;
    c->nfull = c->nempty = 0;
}

/* Under the lock: CPU i's magazines of c back to the slabs, and freed. */
static void cpu_flush(struct kmem_cache *c, unsigned i)
{
    struct mag *m[2] = {c->cpu[i].loaded, c->cpu[i].prev};
    MAG_ST(c->cpu[i].loaded, &heap_mag_none);
    MAG_ST(c->cpu[i].prev, &heap_mag_none);
    for (int k = 0; k < 2; k++) {
        if (m[k]->cap) {
            flush(c, m[k]);
            kfree(m[k]);
        }
    }
}

void slab_mag_flush_all(struct kmem_cache *c, bool all)
{
    if (!MAG_LD(c->grow.cap))
        return;
    for (unsigned i = 0; all && i < SMP_MAX_CPUS; i++)
        cpu_flush(c, i);
    if (!all)
        cpu_flush(c, heap_cpu()); /* the caller's own are safe to take */
    depot_flush(c);
}

size_t slab_mag_cached(const struct kmem_cache *c)
{
    size_t n = 0;
    if (!MAG_LD(c->grow.cap))
        return 0;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        const struct mag *a = MAG_LD(c->cpu[i].loaded), *b = MAG_LD(c->cpu[i].prev);
        n += MIN(MAG_LD(a->rounds), a->cap) + MIN(MAG_LD(b->rounds), b->cap);
    }
    for (const struct mag *m = c->dfull; m; m = m->next)
        n += m->rounds;
    return n;
}

void slab_mag_drain(void)
{
    unsigned me = heap_cpu();
    spin_lock(&slab_caches_lock);
    for (struct kmem_cache *c = slab_caches; c; c = c->next) {
        if (!MAG_LD(c->grow.cap))
            continue;
        spin_lock(&c->lock);
        cpu_flush(c, me);
        depot_flush(c);
        spin_unlock(&c->lock);
    }
    spin_unlock(&slab_caches_lock);
}

size_t slab_mag_count(unsigned cpu)
{
    size_t n = 0;
    if (cpu >= SMP_MAX_CPUS)
        return 0;
    spin_lock(&slab_caches_lock);
    for (struct kmem_cache *c = slab_caches; c; c = c->next) {
        if (!MAG_LD(c->grow.cap))
            continue;
        spin_lock(&c->lock);
        const struct mag *a = c->cpu[cpu].loaded, *b = c->cpu[cpu].prev;
        n += MIN(MAG_LD(a->rounds), a->cap) + MIN(MAG_LD(b->rounds), b->cap);
        spin_unlock(&c->lock);
    }
    spin_unlock(&slab_caches_lock);
    return n;
}
