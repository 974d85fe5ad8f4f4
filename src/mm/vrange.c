/*
 * Virtual address ranges, first fit.
 *
 * Theory of operation. The set is a singly linked list of descriptors sorted
 * by base address. Allocation walks the list looking for the first hole of
 * pages + gap_pages between neighbours (or before the first, or after the
 * last, up to limit); the gap stays unmapped after the range, so running off
 * its end faults instead of landing in the next range. Descriptors come from
 * the caller's desc_alloc, so the set itself never allocates memory.
 *
 * Invariants: ranges are disjoint, sorted, page-aligned, inside
 * [base, limit), and each is followed by at least gap_pages free pages.
 *
 * Cost: O(n) in the number of ranges for alloc, find and free.
 *
 * Weaknesses: first fit fragments the space under mixed sizes and the lookups
 * are linear; a tree would scale better once there are hundreds of ranges.
 */
#include <pagoda/errno.h>
#include <pagoda/vrange.h>

struct vrange *vrange_alloc(struct vrange_set *s, size_t pages, unsigned flags)
{
    if (pages == 0 || pages > (s->limit - s->base) / PAGE_SIZE)
        return NULL;
    uint64_t need = (pages + s->gap_pages) * PAGE_SIZE;
    vaddr_t at = s->base;
    struct vrange **link = &s->head;
    for (struct vrange *r = s->head; r; link = &r->next, r = r->next) {
        if (r->base - at >= need)
            break;
        at = r->base + (r->pages + s->gap_pages) * PAGE_SIZE;
    }
    if (at > s->limit || s->limit - at < need)
        return NULL;
    struct vrange *n = s->desc_alloc();
    if (!n)
        return NULL;
    n->base = at;
    n->pages = pages;
    n->flags = flags;
    n->next = *link;
    *link = n;
    return n;
}

struct vrange *vrange_find(const struct vrange_set *s, vaddr_t va)
{
    for (struct vrange *r = s->head; r && r->base <= va; r = r->next)
        if (va - r->base < r->pages * PAGE_SIZE)
            return r;
    return NULL;
}

struct vrange *vrange_below(const struct vrange_set *s, vaddr_t va)
{
    struct vrange *below = NULL;
    for (struct vrange *r = s->head; r && r->base <= va; r = r->next)
        below = r;
    return below;
}

int vrange_free(struct vrange_set *s, vaddr_t base)
{
    for (struct vrange **link = &s->head; *link; link = &(*link)->next) {
        struct vrange *r = *link;
        if (r->base == base) {
            *link = r->next;
            s->desc_free(r);
            return 0;
        }
        if (r->base > base)
            break;
    }
    return -E_BADFREE;
}
