/*
 * Slab slab_caches (Bonwick, "The Slab Allocator", 1994).
 *
 * A cache hands out objects of one size that stay constructed while cached:
 * the constructor runs when a slab is created, the destructor when it is
 * destroyed, never on alloc/free. A cache owns slabs on three lists: full,
 * partial (allocation comes from here first) and empty (kept until reaped).
 *
 * Small objects (<= SLAB_ONSLAB_MAX): a slab is one page taken from the list
 * allocator so that its list header starts the page; the slab header follows
 * it, then an array of 16-bit "next free" indices (so objects are never
 * written by the allocator), a colour offset, and the objects. free finds the
 * slab by rounding the object down to its page: O(1), no lookup. An index
 * slot holds SLAB_ALLOCATED while its object is out, which catches a double
 * free. The leftover bytes of the page rotate as colour between slabs, so
 * equal objects of different slabs fall on different cache lines.
 *
 * Large objects: the slab's memory holds objects only; the slab header and
 * one bufctl per object (object address, slab, link) live off-slab in a
 * kmalloc block. Allocated objects' bufctls sit in a per-cache hash table
 * keyed by address (grown as it fills), which is how free finds the slab and
 * how it rejects a pointer it never handed out.
 *
 * An object always returns to its own slab: the slab comes from the object's
 * address, and a slab of another cache panics. Cost: alloc and free O(1)
 * (the hash: O(1) expected); growth and reap one heap call per slab.
 * Magazines (slab_mag.c) sit in front of every cache but the heap's own:
 * kmem_cache_alloc and kmem_cache_free pop and push on the CPU's magazine,
 * objects stay constructed there, and only a magazine exchange takes the
 * cache's lock.
 * SMP: each cache has a lock (LOCK_LEVEL_SLAB) over its slabs, lists,
 * hash and counters; the list of slab_caches has its own (LOCK_LEVEL_SLAB_LIST,
 * outside the slab_caches'). A slab's memory comes from the heap's list
 * allocator under the heap lock (inner). The heap's own cache of span
 * descriptors is used under the heap lock and has no lock of its own.
 * Weaknesses: one-page small slabs.
 */
#include <pagoda/errno.h>

#include "slab_internal.h"

struct kmem_cache *slab_caches;
spinlock_t slab_caches_lock = SPINLOCK_INIT("slab slab_caches", LOCK_LEVEL_SLAB_LIST);

/* The heap lock around the list allocator, unless the caller holds it. */
static void heap_enter(const struct kmem_cache *c)
{
    if (!c->internal)
        spin_lock(&kheap.lock);
}

static void heap_leave(const struct kmem_cache *c)
{
    if (!c->internal)
        spin_unlock(&kheap.lock);
}


static void list_del(struct kmem_cache *c, struct kslab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->lists[s->list] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->counts[s->list]--;
}

static void list_add(struct kmem_cache *c, struct kslab *s, uint32_t which)
{
    s->list = which;
    s->prev = NULL;
    s->next = c->lists[which];
    if (s->next)
        s->next->prev = s;
    c->lists[which] = s;
    c->counts[which]++;
}


/* Fill in a cache's geometry; false for bad arguments or no memory. */
static bool cache_setup(struct kmem_cache *c, const char *name, size_t size, size_t align,
                        void (*ctor)(void *), void (*dtor)(void *))
{
    if (align == 0)
        align = 16;
    if (!IS_POW2(align) || align > PAGE_SIZE || size == 0 || size > MiB(64))
        return false;
    kstrlcpy(c->name, name ? name : "?", sizeof(c->name));
    spin_init(&c->lock, c->name, LOCK_LEVEL_SLAB);
    c->align = align;
    c->size = ALIGN_UP(size, align);
    c->ctor = ctor;
    c->dtor = dtor;
    c->offslab = c->size > SLAB_ONSLAB_MAX;
    if (!c->offslab) {
        /* As many objects as fit after the header and their indices. */
        uint32_t n = (uint32_t)((SLAB_PAGE_BYTES - sizeof(struct kslab)) / (c->size + 2));
        while (n > 0 &&
               ALIGN_UP(HDR_SIZE + sizeof(struct kslab) + 2 * n, align) - HDR_SIZE + n * c->size >
                   SLAB_PAGE_BYTES)
            n--;
        c->per_slab = n;
        c->slab_bytes = PAGE_SIZE;
        /* Offsets are from the slab header, which sits 16 bytes into the page. */
        c->first_off = ALIGN_UP(HDR_SIZE + sizeof(struct kslab) + 2 * n, align) - HDR_SIZE;
        c->color_max = SLAB_PAGE_BYTES - c->first_off - n * c->size;
    } else {
        size_t bytes = ALIGN_UP(c->size * SLAB_MIN_OBJECTS, (size_t)PAGE_SIZE);
        c->per_slab = (uint32_t)(bytes / c->size);
        c->slab_bytes = bytes;
        c->color_max = bytes - c->per_slab * c->size;
        c->hash_size = 64;
        c->hash = kcalloc(c->hash_size, sizeof(*c->hash));
        if (!c->hash)
            return false;
    }
    return true;
}

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
                                     void (*ctor)(void *), void (*dtor)(void *))
{
    struct kmem_cache *c = kmalloc_aligned(sizeof(*c), 64); /* its per-CPU lines */
    if (!c)
        return NULL;
    memset(c, 0, sizeof(*c));
    if (!cache_setup(c, name, size, align, ctor, dtor)) {
        kfree(c);
        return NULL;
    }
    slab_mag_setup(c);
    spin_lock(&slab_caches_lock);
    c->next = slab_caches;
    slab_caches = c;
    spin_unlock(&slab_caches_lock);
    return c;
}

/* The heap's own cache of chunk descriptors (block.c): static, so that it
 * needs no kmalloc, and on-slab, so that its pages come straight from the
 * list allocator. Not in the global list; kheap_trim reaps it. */
struct kmem_cache slab_chunk_descs;

void slab_heap_reset(void)
{
    memset(&slab_chunk_descs, 0, sizeof(slab_chunk_descs));
    slab_caches = NULL; /* slab_caches of an earlier heap are gone with it */
}

struct chunk *slab_chunk_desc_alloc(void)
{
    if (!slab_chunk_descs.per_slab) {
        if (!cache_setup(&slab_chunk_descs, "heap_span", sizeof(struct chunk), 64, NULL, NULL))
            return NULL;
        slab_chunk_descs.internal = true;
    }
    return kmem_cache_alloc(&slab_chunk_descs);
}

void slab_chunk_desc_free(struct chunk *ch)
{
    kmem_cache_free(&slab_chunk_descs, ch);
}

size_t slab_chunk_desc_reap(void)
{
    return slab_chunk_descs.per_slab ? kmem_cache_reap(&slab_chunk_descs) : 0;
}

/* A new slab with every object constructed, on the empty list. */
static struct kslab *slab_grow(struct kmem_cache *c)
{
    struct kslab *s;
    size_t color = c->color_next;
    c->color_next = c->color_next + c->align > c->color_max ? 0 : c->color_next + c->align;
    if (!c->offslab) {
        heap_enter(c);
        s = list_alloc(&kheap, SLAB_PAGE_BYTES, PAGE_SIZE, HDR_SIZE);
        heap_leave(c);
        if (!s)
            return NULL;
        s->mem = (uint8_t *)s + c->first_off + color;
        for (uint32_t i = 0; i < c->per_slab; i++)
            s->idx[i] = (uint16_t)(i + 1 < c->per_slab ? i + 1 : SLAB_END);
        s->free_idx = 0;
    } else {
        s = kmalloc(sizeof(*s) + c->per_slab * sizeof(struct kbufctl));
        if (!s)
            return NULL;
        heap_enter(c);
        s->base = list_alloc(&kheap, c->slab_bytes, MAX(c->align, (size_t)16), 0);
        heap_leave(c);
        if (!s->base) {
            kfree(s);
            return NULL;
        }
        s->mem = s->base + color;
        struct kbufctl *bc = (struct kbufctl *)(s->idx);
        for (uint32_t i = 0; i < c->per_slab; i++) {
            bc[i].buf = s->mem + (size_t)i * c->size;
            bc[i].slab = s;
            bc[i].next = i + 1 < c->per_slab ? &bc[i + 1] : NULL;
        }
        s->free_bc = bc;
    }
    s->cache = c;
    s->magic = SLAB_MAGIC;
    s->inuse = 0;
    s->total = c->per_slab;
    if (c->ctor)
        for (uint32_t i = 0; i < s->total; i++)
            c->ctor(s->mem + (size_t)i * c->size);
    list_add(c, s, L_EMPTY);
    c->nslabs++;
    return s;
}

static void slab_destroy(struct kmem_cache *c, struct kslab *s)
{
    list_del(c, s);
    c->nslabs--;
    if (c->dtor)
        for (uint32_t i = 0; i < s->total; i++)
            c->dtor(s->mem + (size_t)i * c->size);
    s->magic = 0;
    heap_enter(c);
    list_free(&kheap, c->offslab ? s->base : (void *)s);
    heap_leave(c);
    if (c->offslab)
        kfree(s);
}

/* ---------------------------------------------------------------- off-slab hash */

static size_t hash_of(const struct kmem_cache *c, const void *buf)
{
    return (size_t)((((uintptr_t)buf >> 4) * 0x9e3779b97f4a7c15ULL) >> 32) & (c->hash_size - 1);
}

static void hash_grow(struct kmem_cache *c)
{
    size_t n = c->hash_size * 4;
    struct kbufctl **t = kcalloc(n, sizeof(*t));
    if (!t)
        return; /* keep the old table: longer chains, still correct */
    struct kbufctl **old = c->hash;
    size_t oldn = c->hash_size;
    c->hash = t;
    c->hash_size = n;
    for (size_t i = 0; i < oldn; i++) {
        for (struct kbufctl *b = old[i], *next; b; b = next) {
            next = b->next;
            size_t k = hash_of(c, b->buf);
            b->next = t[k];
            t[k] = b;
        }
    }
    kfree(old);
}

static struct kbufctl *hash_remove(struct kmem_cache *c, const void *buf)
{
    for (struct kbufctl **pp = &c->hash[hash_of(c, buf)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->buf == buf) {
            struct kbufctl *b = *pp;
            *pp = b->next;
            c->hash_count--;
            return b;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- alloc and free */

void *slab_get(struct kmem_cache *c)
{
    struct kslab *s = c->lists[L_PARTIAL] ? c->lists[L_PARTIAL] : c->lists[L_EMPTY];
    if (!s && !(s = slab_grow(c)))
        return NULL;
    void *obj;
    if (!c->offslab) {
        uint16_t i = s->free_idx;
        s->free_idx = s->idx[i];
        s->idx[i] = SLAB_ALLOCATED;
        obj = s->mem + (size_t)i * c->size;
    } else {
        if (c->hash_count >= 2 * c->hash_size)
            hash_grow(c);
        struct kbufctl *b = s->free_bc;
        s->free_bc = b->next;
        size_t k = hash_of(c, b->buf);
        b->next = c->hash[k];
        c->hash[k] = b;
        c->hash_count++;
        obj = b->buf;
    }
    s->inuse++;
    if (list_for(s) != s->list) {
        list_del(c, s);
        list_add(c, s, list_for(s));
    }
    c->live++;
    return obj;
}

void slab_put(struct kmem_cache *c, void *obj)
{
    struct kslab *s;
    if (!c->offslab) {
        if (!c->internal)
            spin_lock(&kheap.lock);
        bool in = list_contains(&kheap, obj);
        if (!c->internal)
            spin_unlock(&kheap.lock);
        if (!in)
            SLAB_PANIC(c, "kmem_cache_free(%s): %p is not a heap address", c->name, obj);
        s = (struct kslab *)(ALIGN_DOWN((uintptr_t)obj, (uintptr_t)PAGE_SIZE) + HDR_SIZE);
        if (s->magic != SLAB_MAGIC)
            SLAB_PANIC(c, "kmem_cache_free(%s): %p is not in a slab", c->name, obj);
        if (s->cache != c)
            SLAB_PANIC(c, "kmem_cache_free(%s): %p belongs to cache %s", c->name, obj, s->cache->name);
        size_t off = (size_t)((uint8_t *)obj - s->mem), i = off / c->size;
        if ((uint8_t *)obj < s->mem || off % c->size || i >= s->total)
            SLAB_PANIC(c, "kmem_cache_free(%s): %p is not an object start (size %zu)", c->name, obj,
                  c->size);
        if (s->idx[i] != SLAB_ALLOCATED)
            SLAB_PANIC(c, "kmem_cache_free(%s): double free of %p (size %zu)", c->name, obj, c->size);
        s->idx[i] = s->free_idx;
        s->free_idx = (uint16_t)i;
    } else {
        struct kbufctl *b = hash_remove(c, obj);
        if (!b)
            SLAB_PANIC(c, "kmem_cache_free(%s): %p was not allocated from it (double or invalid "
                  "free, size %zu)",
                  c->name, obj, c->size);
        s = b->slab;
        b->next = s->free_bc;
        s->free_bc = b;
    }
    s->inuse--;
    if (list_for(s) != s->list) {
        list_del(c, s);
        list_add(c, s, list_for(s));
    }
    c->live--;
}

size_t kmem_cache_reap(struct kmem_cache *c)
{
    size_t n = 0;
    if (!c->internal)
        spin_lock(&c->lock);
    slab_mag_flush_all(c, false); /* the depot's objects first */
    while (c->lists[L_EMPTY]) {
        slab_destroy(c, c->lists[L_EMPTY]);
        n++;
    }
    if (!c->internal)
        spin_unlock(&c->lock);
    return n;
}

size_t kmem_cache_reap_all(void)
{
    size_t n = 0;
    spin_lock(&slab_caches_lock);
    for (struct kmem_cache *c = slab_caches; c; c = c->next)
        n += kmem_cache_reap(c);
    spin_unlock(&slab_caches_lock);
    return n;
}

void kmem_cache_destroy(struct kmem_cache *c)
{
    if (!c)
        return;
    spin_lock(&c->lock);
    slab_mag_flush_all(c, true); /* every CPU's: nobody may use c now */
    spin_unlock(&c->lock);
    if (c->live)
        panic("kmem_cache_destroy(%s): %zu objects still allocated", c->name, c->live);
    kmem_cache_reap(c);
    spin_lock(&slab_caches_lock);
    for (struct kmem_cache **pp = &slab_caches; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    spin_unlock(&slab_caches_lock);
    kfree(c->hash);
    kfree(c);
}

