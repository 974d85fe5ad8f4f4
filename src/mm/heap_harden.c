/*
 * The heap's reports and its hardening levels 1 and 2 (kmalloc.c calls
 * them; the theory is there and in heap_internal.h).
 *
 * heap_fail names a bad free or a corruption with only what the heap's own
 * structures vouch for. harden_alloc, harden_verify and harden_free keep a
 * block's header check word, its redzone canary and its poison; they touch
 * only the block itself, so they run without the heap lock, on the CPU that
 * owns the block at that moment (a block in a magazine is free: poisoned,
 * with the FREE check word, exactly as on its span's free list).
 */
#include "heap_internal.h"

/* The capacity of a list block whose header is verified. */
static size_t verified_list_cap(const struct heap *h, const void *p, bool *alloc)
{
    uint32_t check = (uint32_t)MAG_LD(hdr_of(p)->tag); /* a racing second free writes it */
    *alloc = check == heap_check_word(h, p, HSTATE_ALLOC);
    if (!*alloc && check != heap_check_word(h, p, HSTATE_FREE))
        return 0;
    return list_capacity(p);
}

__attribute__((noreturn)) void heap_fail(const char *what, const void *p)
{
    struct heap *h = &kheap;
    /* A recovered panic (the monitor's, a host test's) must not leave the
     * lock held; what follows only reads, and panics. */
    if (spin_held(&h->lock))
        spin_unlock(&h->lock);
    uintptr_t a = (uintptr_t)p;
    const struct chunk *ch = a - h->lo < h->hi - h->lo ? chunk_of(h, p) : NULL;
    if (ch) { /* the descriptor is the heap's own: everything in it is true */
        uintptr_t first = chunk_first(ch) + h->bhdr;
        size_t bsz = heap_class_size[ch->cls];
        if (a >= first && a < ch->limit && (a - first) % ch->stride == 0) {
            if (h->harden && (uint32_t)hdr_of(p)->tag == heap_check_word(h, p, HSTATE_ALLOC))
                panic("heap: %s at %p (size %llu, class %u of %zu-byte blocks)", what, p,
                      (unsigned long long)(bsz - (hdr_of(p)->tag >> 32)), ch->cls, bsz);
            panic("heap: %s at %p (a %zu-byte block, class %u)", what, p, bsz, ch->cls);
        }
        panic("heap: %s at %p (inside a chunk of class %u, %zu-byte blocks, but not at a "
              "block start)",
              what, p, ch->cls, bsz);
    }
    if (list_could_be_block(h, p)) {
        bool alloc;
        size_t cap = verified_list_cap(h, p, &alloc);
        if (cap && alloc && h->harden)
            panic("heap: %s at %p (size %llu, list block of %zu bytes)", what, p,
                  (unsigned long long)(cap - (hdr_of(p)->tag >> 32)), cap);
        if (cap)
            panic("heap: %s at %p (list block of %zu bytes)", what, p, cap);
        panic("heap: %s at %p (inside a heap segment, not a block the heap returned)", what, p);
    }
    if (list_contains(h, p))
        panic("heap: %s at %p (inside a heap segment, not a block the heap returned)", what, p);
    if (a - h->lo < h->hi - h->lo)
        panic("heap: %s at %p (in the heap's range, outside every segment)", what, p);
    panic("heap: %s at %p (not a heap address)", what, p);
}

/* ---------------------------------------------------------------- hardening */

#if PAGODA_HEAP_HARDEN
/* Hand out a hardened block of capacity cap (small_size: the class's, or 0
 * for a list block). */
void harden_alloc(struct heap *h, void *p, size_t size, size_t small_size)
{
    struct hhdr *hd = hdr_of(p);
    if (small_size) {
        if (unlikely(hd->tag != heap_check_word(h, p, HSTATE_FREE)))
            heap_fail("free block header overwritten (overflow from the block below?)", p);
        size_t end = block_poison_end(h, small_size);
        uint64_t bad = 0, w;
        for (size_t i = 8; i < end; i += 8) { /* sizes are multiples of 16 */
            memcpy(&w, (const uint8_t *)p + i, 8);
            bad |= w ^ POISON_WORD;
        }
        if (unlikely(bad))
            heap_fail("write after free (poison overwritten) in block", p);
    }
    hd->tag = heap_tag(h, p, small_size ? small_size : list_capacity(p), size);
    uint64_t c = CANARY;
    memcpy((uint8_t *)p + size, &c, sizeof(c));
}

/* Verify a live block (ch: its chunk, or NULL for a list block); returns
 * its requested size. */
size_t harden_verify(struct heap *h, const void *p, const struct chunk *ch)
{
    const struct hhdr *hd = hdr_of(p);
    uint32_t check = (uint32_t)hd->tag;
    if (unlikely(check != heap_check_word(h, p, HSTATE_ALLOC))) {
        if (check == heap_check_word(h, p, HSTATE_FREE))
            heap_fail("double free", p);
        heap_fail("kfree of a pointer the heap never returned (or header overwritten)", p);
    }
    size_t cap = ch ? heap_class_size[ch->cls] : list_capacity(p);
    size_t size = cap - (size_t)(hd->tag >> 32);
    uint64_t c;
    memcpy(&c, (const uint8_t *)p + size, sizeof(c));
    if (unlikely(c != CANARY))
        heap_fail("redzone canary overwritten (buffer overflow)", p);
    return size;
}

void harden_free(struct heap *h, void *p, const struct chunk *ch)
{
    hdr_of(p)->tag = heap_check_word(h, p, HSTATE_FREE);
    if (ch) {
        size_t end = block_poison_end(h, heap_class_size[ch->cls]);
        memset((uint8_t *)p + 8, POISON_BYTE, end - 8);
    } else if (h->harden >= 2) { /* list blocks merge on free: poisoned, never checked */
        memset((uint8_t *)p + 16, POISON_BYTE, list_capacity(p) - 24);
    }
}
#endif

