/*
 * Aligned small blocks: kmalloc_aligned for an alignment of 32 B..4 KiB
 * served from a small-block class instead of the list allocator.
 *
 * Why it works. A span is CHUNK_SIZE-aligned and its blocks sit at
 * first + i * stride. A class's usual span starts its blocks right after
 * the span's list header (first = base + 16), so its blocks are only
 * 16-aligned. If instead first = base + align and the class's size is a
 * multiple of align, every block of the span is aligned: a span "rebased"
 * this way is an ordinary span of its class in every other respect (the
 * page map names it, kfree's block-start test and free key work from
 * ch->first and ch->stride, plain kmalloc of the class may take its blocks,
 * which are just as good). It loses the blocks that no longer fit in front
 * of the span's end: none for 64 B, 4 KiB and 8 KiB blocks.
 *
 * The class. The smallest class at least `size` whose block size is a
 * multiple of align, if rounding to it wastes at most a quarter of the
 * block (or the block is no bigger than align itself: a page-aligned
 * request takes a page, as it would from a page allocator). Otherwise, and
 * above 4 KiB alignment (a span would lose too much in front), and when
 * hardening (blocks carry a 16-byte header, so the payloads of a span can
 * never all be aligned), the list allocator serves as before.
 *
 * The span. The class's head span serves when it is rebased to at least
 * this alignment (an empty one is rebased on the spot); else one of the
 * next few partial spans that is, moved to the head; else a fresh span
 * from block_refill, rebased before any block of it is handed out. A pair of kmalloc_aligned + kfree is thus a pop and
 * a push on the same span, like a plain pair.
 *
 * Cost: O(1) (at most ALIGNED_SCAN spans looked at); a refill as for any
 * class. Weakness: a class mixing plain and aligned requests may hold an
 * extra partial span, since aligned requests skip spans that are not
 * rebased.
 */
#include "heap_internal.h"

#define ALIGNED_MAX PAGE_SIZE /* larger alignments: the list allocator */
#define ALIGNED_SCAN 4        /* partial spans looked at for a rebased one */

/* The class for size at align, or KHEAP_NCLASSES if none fits well. */
static unsigned aligned_class(const struct heap *h, size_t size, size_t align)
{
    if (size == 0)
        size = 1;
    for (unsigned c = heap_class_of[(size + 15) >> 4]; c < KHEAP_NCLASSES; c++) {
        size_t cs = heap_class_size[c];
        if (cs % align)
            continue;
        return cs * 3 <= size * 4 || cs <= align ? c : KHEAP_NCLASSES;
    }
    return KHEAP_NCLASSES;
}

static bool rebased(const struct chunk *ch, size_t align)
{
    return ((ch->first | ch->stride) & (align - 1)) == 0;
}

/* Make the span ch (at its class's head, no block in use: fresh from
 * block_refill or kept empty) start its blocks at base + align. */
static void rebase(struct heap *h, struct bclass *k, struct chunk *ch, size_t align)
{
    ch->first = ch->base + align;
    ch->carve = ch->first;
    ch->total = (uint32_t)(((size_t)ch->units * CHUNK_SIZE - align) / ch->stride);
    ch->limit = ch->first + (uintptr_t)ch->total * ch->stride;
    ch->free = NULL; /* the blocks block_refill carved are forgotten */
    ch->ncarved = 0;
    ch->fast_limit = 0;
    ch->fast_lim32 = 0;
    block_dry(h, k, ch); /* carves the first batch from the new start */
}

/* Move ch (on k's partial list, not its head) to the head. */
static void to_head(struct bclass *k, struct chunk *ch)
{
    ch->prev->next = ch->next;
    if (ch->next)
        ch->next->prev = ch->prev;
    else
        k->ptail = ch->prev;
    ch->prev = NULL;
    ch->next = k->partial;
    k->partial->prev = ch;
    k->partial = ch;
}

void *heap_aligned_small(struct heap *h, size_t size, size_t align)
{
    if (!h->src || h->harden || align > ALIGNED_MAX || size > KHEAP_SMALL_MAX)
        return NULL;
    unsigned c = aligned_class(h, size, align);
    if (c >= KHEAP_NCLASSES)
        return NULL;
    struct heap_front *f = heap_front(h);
    struct bclass *k = &h->cls[c];
    /* Spans belong to the heap lock; the block then counts as this CPU's,
     * like one popped from its magazine. */
    spin_lock(&h->lock);
    struct chunk *ch = k->partial;
    if (ch && ch->used == 0 && !rebased(ch, align)) {
        /* The class's kept empty span: all its blocks are free, so it can
         * be laid out anew (a second span beside it would break the rule
         * that an empty span is kept only alone). */
        rebase(h, k, ch, align);
    }
    for (int i = 0; ch && !rebased(ch, align) && i < ALIGNED_SCAN; i++)
        ch = ch->next;
    if (ch && rebased(ch, align)) {
        if (ch != k->partial)
            to_head(k, ch);
    } else {
        ch = block_refill(h, c);
        if (!ch) {
            spin_unlock(&h->lock);
            return NULL;
        }
        rebase(h, k, ch, align);
    }
    void *p = ch->free;
    ch->free = *(void **)p;
    ch->used++;
    MAG_ST(f->small_live, f->small_live + k->size);
    heap_note_peak(h);
    if (!ch->free)
        block_dry(h, k, ch);
    spin_unlock(&h->lock);
#if HEAP_CHECKED
    ((uint64_t *)p)[1] = 0; /* not the free key */
#endif
    return p;
}
