/*
 * kheap_stats: the heap's figures for the monitor, the tests and the
 * benchmark. Every counter is kept as blocks come and go (kmalloc.c,
 * block.c, list.c, heap_mag.c), so a snapshot reads them under the heap
 * lock, and walks only the spans of each class to count their blocks in use
 * and the magazines to count the free blocks cached there (the spans count
 * those as in use): O(classes + spans + CPUs * classes), never a walk over
 * blocks. The per-CPU live counters are summed; exact when the other CPUs
 * are quiet. Not for a hot path.
 */
#include <pagoda/kfence.h>
#include <pagoda/string.h>

#include "heap_internal.h"

void kheap_stats(struct kheap_stats *st)
{
    struct heap *h = &kheap;
    memset(st, 0, sizeof(*st));
    spin_lock(&h->lock);
    st->live_bytes = heap_out_bytes(h); /* level 0: less the cached blocks (below) */
    st->peak_live_bytes = h->peak_live_bytes;
    st->heap_bytes = h->heap_bytes;
    st->peak_heap_bytes = h->peak_heap_bytes;
    st->heap_pages = h->heap_bytes / PAGE_SIZE;
    st->list_free_bytes = h->free_bytes;
    st->list_free_blocks = h->free_blocks;
    st->list_used_blocks = h->used_blocks;
    st->grows = h->grows;
    st->shrinks = h->shrinks;
    st->decommitted_bytes = h->decommitted;
    st->span_hole_bytes = h->span_hole_bytes;
    st->releases = h->releases;
    st->released_bytes = h->released;
    st->map_nodes = h->map_nodes;
    st->pooled_chunks = h->npool;
    st->idle_bytes = heap_idle_bytes(h);
    st->release_at = heap_release_at(h);
    st->release_big = h->big_free;
    st->bump_used = bump_used();
    st->bump_size = KBUMP_SIZE;
    st->harden = h->harden;
    st->live_objects = h->list_live_objects + big_objects();
    st->big_kept_bytes = big_kept_bytes();
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        const struct bclass *k = &h->cls[c];
        uint64_t used = 0, cached = mag_cached(h, c);
        for (const struct chunk *ch = k->all; ch; ch = ch->anext)
            used += ch->used;
        /* Another CPU swapping its magazines while they are counted can
         * make one count twice: never below zero. */
        cached = MIN(cached, used);
        uint64_t live = used - cached;
        st->cls[c] = (struct kheap_class_stats){
            .size = k->size,
            .chunks = k->nchunks,
            .span_bytes = k->units * (uint32_t)CHUNK_SIZE,
            .live = live,
            .capacity = (uint64_t)k->nchunks * k->per_span,
            .cached = cached,
            .mag_cap = MAG_LD(h->depot[c].grow.cap),
            .mag_grown = MAG_LD(h->depot[c].grow.grown),
        };
        st->live_objects += live;
        st->mag_cached += cached;
        if (!h->harden)
            st->live_bytes -= MIN(st->live_bytes, (size_t)(cached * k->size));
    }
    st->mags = h->nmags;
    spin_unlock(&h->lock);
    struct kfence_stats kst; /* kfence hook: sampled objects are live too */
    kfence_get_stats(&kst);
    st->live_bytes += kst.live_bytes;
    st->live_objects += kst.live;
}
