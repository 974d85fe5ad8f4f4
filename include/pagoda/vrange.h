/*
 * A set of non-overlapping virtual address ranges inside [base, limit),
 * handed out first-fit (src/mm/vrange.c). Portable: it only does arithmetic
 * on addresses, so the VMM's kernel-range allocator and the host tests share
 * it. Sizes are in pages; addresses are page-aligned.
 */
#ifndef PAGODA_VRANGE_H
#define PAGODA_VRANGE_H

#include <pagoda/types.h>

struct vrange {
    vaddr_t base;
    size_t pages;
    unsigned flags; /* the owner's, stored untouched */
    struct vrange *next;
};

struct vrange_set {
    vaddr_t base, limit;
    size_t gap_pages;    /* left unused after every range: a guard */
    struct vrange *head; /* sorted by base */
    /* Where descriptors come from: a fixed pool or a slab cache. */
    struct vrange *(*desc_alloc)(void);
    void (*desc_free)(struct vrange *r);
};

/* A new range of `pages` pages, the lowest that fits with its guard gap, or
 * NULL (0 pages, no room, or no descriptor). */
struct vrange *vrange_alloc(struct vrange_set *s, size_t pages, unsigned flags);
/* The range containing va (its guard gap excluded), or NULL. */
struct vrange *vrange_find(const struct vrange_set *s, vaddr_t va);
/* The range just below va, for fault reports ("past the end of ..."). */
struct vrange *vrange_below(const struct vrange_set *s, vaddr_t va);
/* Forget the range that starts exactly at base: 0, or -E_BADFREE. */
int vrange_free(struct vrange_set *s, vaddr_t base);

#endif
