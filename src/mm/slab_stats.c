/*
 * Slab caches: statistics, the consistency check and the slabinfo table
 * (the allocator: slab.c; its magazines: slab_mag.c). Each reads a cache
 * under its lock.
 */
#include <pagoda/errno.h>

#include "slab_internal.h"

/* ---------------------------------------------------------------- stats and checks */

void kmem_cache_stats(const struct kmem_cache *c, struct kmem_cache_stats *st)
{
    st->objsize = c->size;
    st->per_slab = c->per_slab;
    st->slab_bytes = c->slab_bytes;
    spin_lock(&((struct kmem_cache *)c)->lock);
    st->cached = slab_mag_cached(c);
    st->live = c->live - st->cached;
    st->slabs = c->nslabs;
    st->full = c->counts[L_FULL];
    st->partial = c->counts[L_PARTIAL];
    st->empty = c->counts[L_EMPTY];
    st->offslab = c->offslab;
    st->mag_cap = c->grow.cap;
    st->mag_grown = c->grow.grown;
    spin_unlock(&((struct kmem_cache *)c)->lock);
}

#define SBAD(...)                                                                                  \
    do {                                                                                           \
        printk("kmem_cache_check(%s): ", c->name);                                                 \
        printk(__VA_ARGS__);                                                                       \
        printk("\n");                                                                              \
        return -E_CORRUPT;                                                                         \
    } while (0)

static int check_locked(const struct kmem_cache *c);

int kmem_cache_check(const struct kmem_cache *c)
{
    struct kmem_cache *w = (struct kmem_cache *)c; /* the lock only */
    if (!c->internal)
        spin_lock(&w->lock);
    int rc = check_locked(c);
    if (!c->internal)
        spin_unlock(&w->lock);
    return rc;
}

static int check_locked(const struct kmem_cache *c)
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
    size_t cached = slab_mag_cached(c);
    printk("%-22s %7zu %6zu %7zu %8u %8zu %5zu %4zu %4zu %5zu %6zu %6u%s%s\n", c->name,
           c->live - cached, c->nslabs * c->per_slab, c->size, c->per_slab, c->slab_bytes / 1024,
           c->nslabs, c->counts[L_FULL], c->counts[L_PARTIAL], c->counts[L_EMPTY], cached,
           c->grow.cap, c->offslab ? " off-slab" : "", note);
}

void kmem_cache_print_info(void)
{
    printk(
        "# name                 active  total objsize per-slab slab-KiB slabs full part empty  "
        "mag rounds\n");
    spin_lock(&slab_caches_lock);
    for (struct kmem_cache *c = slab_caches; c; c = c->next) {
        spin_lock(&c->lock);
        print_cache(c, "");
        spin_unlock(&c->lock);
    }
    spin_unlock(&slab_caches_lock);
    if (slab_chunk_descs.per_slab) /* the heap's own, created with its first span */
        print_cache(&slab_chunk_descs, " (heap internal: span descriptors)");
}

