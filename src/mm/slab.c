/*
 * Slab caches (Bonwick, "The Slab Allocator", 1994).
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
 * SMP: each cache has a lock (LOCK_LEVEL_SLAB) over its slabs, lists,
 * hash and counters; the list of caches has its own (LOCK_LEVEL_SLAB_LIST,
 * outside the caches'). A slab's memory comes from the heap's list
 * allocator under the heap lock (inner). The heap's own cache of span
 * descriptors is used under the heap lock and has no lock of its own.
 * Weaknesses: one-page small slabs.
 */
#include <pagoda/errno.h>
#include <pagoda/slab.h>

#include "heap_internal.h"

#define SLAB_ONSLAB_MAX 512
#define SLAB_MAGIC 0x51ab51abu
#define SLAB_END 0xffffu
#define SLAB_ALLOCATED 0xfffeu
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
};

static struct kmem_cache *caches;
static spinlock_t caches_lock = SPINLOCK_INIT("slab caches", LOCK_LEVEL_SLAB_LIST);

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

/* A panic with the cache's lock released (a recovered panic must not leave
 * it held). */
#define SLAB_PANIC(c, ...)                                                                         \
    do {                                                                                           \
        if (spin_held(&(c)->lock))                                                                 \
            spin_unlock(&(c)->lock);                                                               \
        panic(__VA_ARGS__);                                                                        \
    } while (0)

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

static uint32_t list_for(const struct kslab *s)
{
    return s->inuse == 0 ? L_EMPTY : s->inuse == s->total ? L_FULL : L_PARTIAL;
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
    struct kmem_cache *c = kzalloc(sizeof(*c));
    if (!c)
        return NULL;
    if (!cache_setup(c, name, size, align, ctor, dtor)) {
        kfree(c);
        return NULL;
    }
    spin_lock(&caches_lock);
    c->next = caches;
    caches = c;
    spin_unlock(&caches_lock);
    return c;
}

/* The heap's own cache of chunk descriptors (block.c): static, so that it
 * needs no kmalloc, and on-slab, so that its pages come straight from the
 * list allocator. Not in the global list; kheap_trim reaps it. */
static struct kmem_cache chunk_descs;

void slab_heap_reset(void)
{
    memset(&chunk_descs, 0, sizeof(chunk_descs));
    caches = NULL; /* caches of an earlier heap are gone with it */
}

struct chunk *slab_chunk_desc_alloc(void)
{
    if (!chunk_descs.per_slab) {
        if (!cache_setup(&chunk_descs, "heap_span", sizeof(struct chunk), 64, NULL, NULL))
            return NULL;
        chunk_descs.internal = true;
    }
    return kmem_cache_alloc(&chunk_descs);
}

void slab_chunk_desc_free(struct chunk *ch)
{
    kmem_cache_free(&chunk_descs, ch);
}

size_t slab_chunk_desc_reap(void)
{
    return chunk_descs.per_slab ? kmem_cache_reap(&chunk_descs) : 0;
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

static void *slab_get(struct kmem_cache *c)
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

static void slab_put(struct kmem_cache *c, void *obj)
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

void *kmem_cache_alloc(struct kmem_cache *c)
{
    if (c->internal)
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
    if (c->internal) {
        slab_put(c, obj);
        return;
    }
    spin_lock(&c->lock);
    slab_put(c, obj);
    spin_unlock(&c->lock);
}

size_t kmem_cache_reap(struct kmem_cache *c)
{
    size_t n = 0;
    if (!c->internal)
        spin_lock(&c->lock);
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
    spin_lock(&caches_lock);
    for (struct kmem_cache *c = caches; c; c = c->next)
        n += kmem_cache_reap(c);
    spin_unlock(&caches_lock);
    return n;
}

void kmem_cache_destroy(struct kmem_cache *c)
{
    if (!c)
        return;
    if (c->live)
        panic("kmem_cache_destroy(%s): %zu objects still allocated", c->name, c->live);
    kmem_cache_reap(c);
    spin_lock(&caches_lock);
    for (struct kmem_cache **pp = &caches; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    spin_unlock(&caches_lock);
    kfree(c->hash);
    kfree(c);
}

/* ---------------------------------------------------------------- stats and checks */

void kmem_cache_stats(const struct kmem_cache *c, struct kmem_cache_stats *st)
{
    st->objsize = c->size;
    st->per_slab = c->per_slab;
    st->slab_bytes = c->slab_bytes;
    st->live = c->live;
    st->slabs = c->nslabs;
    st->full = c->counts[L_FULL];
    st->partial = c->counts[L_PARTIAL];
    st->empty = c->counts[L_EMPTY];
    st->offslab = c->offslab;
}

#define SBAD(...)                                                                                  \
    do {                                                                                           \
        printk("kmem_cache_check(%s): ", c->name);                                                 \
        printk(__VA_ARGS__);                                                                       \
        printk("\n");                                                                              \
        return -E_CORRUPT;                                                                         \
    } while (0)

int kmem_cache_check(const struct kmem_cache *c)
{
    size_t slabs = 0, live = 0;
    for (uint32_t l = 0; l < 3; l++) {
        size_t n = 0;
        for (const struct kslab *s = c->lists[l], *prev = NULL; s; prev = s, s = s->next) {
            if (s->magic != SLAB_MAGIC || s->cache != c || s->list != l || s->prev != prev)
                SBAD("slab %p: bad header or links", (const void *)s);
            if (list_for(s) != l)
                SBAD("slab %p: %u of %u in use on list %u", (const void *)s, s->inuse, s->total, l);
            uint32_t nfree = 0;
            if (!c->offslab) {
                for (uint16_t i = s->free_idx; i != SLAB_END; i = s->idx[i])
                    if (i >= s->total || ++nfree > s->total)
                        SBAD("slab %p: free index list broken", (const void *)s);
            } else {
                for (const struct kbufctl *b = s->free_bc; b; b = b->next)
                    if (b->slab != s || ++nfree > s->total)
                        SBAD("slab %p: bufctl list broken", (const void *)s);
            }
            if (nfree + s->inuse != s->total)
                SBAD("slab %p: %u free + %u in use != %u", (const void *)s, nfree, s->inuse,
                     s->total);
            n++;
            live += s->inuse;
        }
        if (n != c->counts[l])
            SBAD("list %u holds %zu slabs, %zu counted", l, n, c->counts[l]);
        slabs += n;
    }
    if (slabs != c->nslabs || live != c->live || (c->offslab && c->hash_count != c->live))
        SBAD("%zu slabs / %zu live found, %zu / %zu counted", slabs, live, c->nslabs, c->live);
    return 0;
}

static void print_cache(const struct kmem_cache *c, const char *note)
{
    printk("%-22s %7zu %6zu %7zu %8u %8zu %5zu %4zu %4zu %5zu%s%s\n", c->name, c->live,
           c->nslabs * c->per_slab, c->size, c->per_slab, c->slab_bytes / 1024, c->nslabs,
           c->counts[L_FULL], c->counts[L_PARTIAL], c->counts[L_EMPTY],
           c->offslab ? " off-slab" : "", note);
}

void kmem_cache_print_info(void)
{
    printk(
        "# name                 active  total objsize per-slab slab-KiB slabs full part empty\n");
    for (const struct kmem_cache *c = caches; c; c = c->next)
        print_cache(c, "");
    if (chunk_descs.per_slab) /* the heap's own, created with its first span */
        print_cache(&chunk_descs, " (heap internal: span descriptors)");
}

void slab_mag_drain(void) {}

size_t slab_mag_count(unsigned cpu)
{
    UNUSED(cpu);
    return 0;
}
