/*
 * kzalloc, kcalloc, kmalloc_usable_size and krealloc: built on kmalloc and
 * kfree (kmalloc.c). krealloc keeps a block in place when its new size
 * stays in the same small class, or when a list block can grow or shrink
 * where it is (under the heap lock); otherwise it moves it.
 */
#include <pagoda/kfence.h>

#include "heap_internal.h"

void *kzalloc(size_t size)
{
    void *p = kmalloc(size);
    if (p)
        memset(p, 0, size);
    return p;
}

void *kcalloc(size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes))
        return NULL;
    return kzalloc(bytes);
}

/* The usable size of a live pointer (checked), its chunk through *chp. */
static size_t live_usable(struct heap *h, const void *p, struct chunk **chp)
{
    if (bump_contains(p)) {
        *chp = NULL;
        return hdr_of(p)->info;
    }
    if (((uintptr_t)p & 15) || (uintptr_t)p - h->lo >= h->hi - h->lo)
        heap_fail("not a pointer the heap returned", p);
    struct chunk *ch = *chp = chunk_of(h, p);
    if (!ch) {
        spin_lock(&h->lock);
        size_t n = list_live(h, p, NULL);
        spin_unlock(&h->lock);
        return n;
    }
#if PAGODA_HEAP_HARDEN
    if (h->harden)
        return harden_verify(h, p, ch);
#endif
#if HEAP_CHECKED
    if (!chunk_is_block_start(ch, p))
        heap_fail("not a live block the heap returned", p);
#endif
    if (span_hole_overlaps(ch, p)) /* free, its page given back (heap_holes.c) */
        heap_fail("not a live block (freed; its page was given back)", p);
    return heap_class_size[ch->cls];
}

size_t kmalloc_usable_size(const void *p)
{
    if (unlikely(kfence_owns(p))) /* kfence hook */
        return kfence_usable_size(p);
    struct chunk *ch;
    return p ? live_usable(&kheap, p, &ch) : 0;
}

void *krealloc(void *p, size_t size)
{
    if (unlikely(kfence_owns(p))) { /* kfence hook */
        if (size)
            return kfence_realloc(p, size);
        kfence_free(p);
        return NULL;
    }
    struct heap *h = &kheap;
    if (!p)
        return kmalloc(size);
    if (size == 0) {
        kfree(p);
        return NULL;
    }
    if (size > LIST_MAX_ALLOC)
        return NULL;
    struct chunk *ch;
    size_t old = live_usable(h, p, &ch), need = size + h->rz;
    bool fits = false;
    if (bump_contains(p) || !h->src)
        fits = false;
    else if (ch) /* the same class: nothing to move */
        fits = need <= KHEAP_SMALL_MAX && heap_class_of[(need + 15) >> 4] == ch->cls;
    else if (need > KHEAP_SMALL_MAX) {
        spin_lock(&h->lock);
        fits = list_resize(h, p, need);
        if (fits) /* its front knew the old capacity (heap_big.c) */
            big_unnote(h, p);
        spin_unlock(&h->lock);
    }
    if (fits) {
        size_t usable = ch ? heap_class_size[ch->cls] : list_capacity(p);
#if PAGODA_HEAP_HARDEN
        if (h->harden) {
            struct hhdr *hd = hdr_of(p);
            hd->tag = heap_tag(h, p, usable, size);
            uint64_t c = CANARY;
            memcpy((uint8_t *)p + size, &c, sizeof(c));
            usable = size;
        }
#endif
        if (ch && h->harden) { /* see heap_out_bytes */
            struct heap_front *f = heap_front(h);
            MAG_ST(f->harden_live, f->harden_live - old + usable);
        } else if (!ch) {
            spin_lock(&h->lock);
            MAG_ST(h->live_bytes, h->live_bytes - old + usable);
            heap_note_peak(h);
            spin_unlock(&h->lock);
        }
        return p;
    }
    void *q = kmalloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, MIN(old, size));
    kfree(p);
    return q;
}
