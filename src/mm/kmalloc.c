/*
 * kmalloc and friends: the chain bump -> blocks -> list, and the hardening.
 *
 * Routing. Before kheap_init every request goes to the bump arena. After it,
 * a request of up to KHEAP_SMALL_MAX bytes (redzone included) is a small
 * block of the class heap_class_of names; anything larger, and every
 * alignment above 16, is a list block. kfree first checks the pointer is in
 * the heap's bounds (NULL and bump pointers are not: they are ignored), then
 * asks the page map (chunk_of) whether it lies in a span of small blocks; if
 * not, it is a list block with a header in front. The fast paths go through
 * the front (heap_front) and are a few instructions with no call;
 * everything rare (a dry span, a full span getting a block back, an empty
 * one, hardening, list blocks) is out of line.
 *
 * Hardening (PAGODA_HEAP_HARDEN compiles it in; kheap_init picks the level).
 * Level 1: every block has a 16-byte header whose tag holds a check word
 * derived from the address, a secret and the state (allocated or free), and
 * the requested size. kfree verifies the check word (a double free finds
 * the FREE word, an invalid free finds neither), then the 8-byte canary right
 * after the requested size (the tag keeps the slack to it), marks the block FREE and poisons its first
 * POISON_CHEAP bytes (level 2: all of it). Handing a small block out again
 * verifies the FREE word and the poison, catching writes through dangling
 * pointers. Failures panic naming the address, size and class.
 *
 * Level 0, a normal boot, still checks every free (unless built with
 * PAGODA_HEAP_UNCHECKED): a small block must pass the block-start test and
 * not hold its span's free key (see heap_internal.h), and a list block must lie in
 * a segment and carry the ALLOC check word in its header. A double free and
 * a free of a pointer the heap never returned both panic, naming the
 * address, the block size and the class. kmalloc pays one store (clearing
 * the key), kfree a multiply, a rotate, two compares and a store (figures
 * in the README).
 *
 * Statistics are kept as blocks come and go: per span the blocks in use,
 * in the front the bytes of small blocks live, in the heap those of list
 * blocks (exact requested sizes when hardening); the peak is noted wherever
 * the footprint can grow, in O(1). Per-class figures are summed only when
 * asked (kheap_stats). No locks: one CPU, never entered from an interrupt
 * handler.
 */
#include <pagoda/errno.h>
#include <pagoda/kfence.h>

#include "heap_internal.h"

struct heap kheap;

void kheap_init(struct heap_source *src, int harden)
{
    memset(&kheap, 0, sizeof(kheap));
#if PAGODA_HEAP_HARDEN
    kheap.harden = harden < 0 ? PAGODA_HEAP_HARDEN_DEFAULT : MIN(harden, 2);
#else
    kheap.harden = 0;
#endif
    kheap.rz = kheap.harden ? REDZONE : 0;
    kheap.bhdr = kheap.harden ? HDR_SIZE : 0;
    /* A new secret per init, so blocks of an earlier heap in the same
     * memory never pass for ours. */
    static uint64_t inits;
    uint64_t seed = ((uintptr_t)src >> 4) ^ ((uintptr_t)&kheap << 7) ^ 0x2545f4914f6cdd1dULL;
    seed += ++inits * 0x9e3779b97f4a7c15ULL;
    seed ^= seed >> 29;
    seed *= 0xbf58476d1ce4e5b9ULL;
    kheap.secret = (uint32_t)(seed >> 32) ^ (uint32_t)seed;
    list_init(&kheap);
    block_init(&kheap);
    kheap.src = src;
    kheap.small_limit = src ? KHEAP_SMALL_MAX - kheap.rz + 1 : 0;
}

bool kheap_ready(void)
{
    return kheap.src != NULL;
}

/* The capacity of a list block whose header is verified. */
static size_t verified_list_cap(const struct heap *h, const void *p, bool *alloc)
{
    uint32_t check = (uint32_t)hdr_of(p)->tag;
    *alloc = check == heap_check_word(h, p, HSTATE_ALLOC);
    if (!*alloc && check != heap_check_word(h, p, HSTATE_FREE))
        return 0;
    return list_capacity(p);
}

__attribute__((noreturn)) void heap_fail(const char *what, const void *p)
{
    struct heap *h = &kheap;
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
static void harden_alloc(struct heap *h, void *p, size_t size, size_t small_size)
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
static size_t harden_verify(struct heap *h, const void *p, const struct chunk *ch)
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

static void harden_free(struct heap *h, void *p, const struct chunk *ch)
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

/* ---------------------------------------------------------------- the paths */

/* The peak, noted wherever the footprint can grow: at every span refill
 * and list allocation (and exactly, when hardening, at every allocation). */
static void heap_note_peak(struct heap *h)
{
    size_t n = heap_live_total(h);
    if (n > h->peak_live_bytes)
        h->peak_live_bytes = n;
}

static inline void count_alloc(struct heap *h, size_t bytes)
{
    h->live_bytes += bytes;
    if (h->live_bytes > h->peak_live_bytes)
        h->peak_live_bytes = h->live_bytes;
}

/* The small-block allocation's rare cases: the chunk ran dry, or hardening. */
__attribute__((noinline)) static void *small_tail(struct heap *h, struct bclass *k,
                                                  struct chunk *ch, void *p, size_t size)
{
    if (!ch->free)
        block_dry(h, k, ch);
#if HEAP_CHECKED
    if (!h->harden)
        ((uint64_t *)p)[1] = 0;
#endif
#if PAGODA_HEAP_HARDEN
    if (h->harden) {
        harden_alloc(h, p, size, k->size);
        count_alloc(h, size);
    }
#endif
    return p;
}

/* Before kheap_init, large, over-aligned, and refill cases. */
__attribute__((noinline)) static void *kmalloc_slow(size_t size, size_t align)
{
    struct heap *h = &kheap;
    if (!h->src)
        return bump_kmalloc(size, align);
    if (size > LIST_MAX_ALLOC)
        return NULL;
    if (size < h->small_limit && align <= 16) { /* the class has no chunk with room */
        unsigned cls = heap_class_of[(size + h->rz + 15) >> 4];
        struct heap_front *f = heap_front(h);
        struct bclass *k = &f->cls[cls];
        struct chunk *ch = block_refill(h, cls);
        if (!ch)
            return NULL;
        void *p = ch->free;
        ch->free = *(void **)p;
        ch->used++;
        f->small_live += k->size;
        heap_note_peak(h);
        return small_tail(h, k, ch, p, size);
    }
    void *p = list_alloc(h, size + h->rz, align, 0);
    if (!p)
        return NULL;
    h->list_live_objects++;
#if PAGODA_HEAP_HARDEN
    if (h->harden) {
        harden_alloc(h, p, size, 0);
        count_alloc(h, size);
        return p;
    }
#endif
#if HEAP_CHECKED
    hdr_of(p)->tag = heap_check_word(h, p, HSTATE_ALLOC);
#endif
    count_alloc(h, list_capacity(p));
    heap_note_peak(h);
    return p;
}

/* kfence hook: a sampled allocation, or (pool full, too big) the heap's.
 * Out of line and reached by a tail call, so kmalloc's fast path saves no
 * register for it. kfence re-armed the countdown; the increment keeps the
 * retry below from being sampled again (interval 1, pool full), and when
 * sampling is off it wraps UINT64_MAX to 0, which the retry's decrement
 * takes back. */
__attribute__((noinline)) static void *kmalloc_sampled(size_t size)
{
    void *p = kfence_alloc_sampled(size);
    if (p)
        return p;
    kfence_countdown++;
    return kmalloc(size);
}

void *kmalloc(size_t size)
{
    if (unlikely(--kfence_countdown == 0)) /* kfence hook: one in about N */
        return kmalloc_sampled(size);
    struct heap *h = &kheap;
    if (likely(size < h->small_limit)) {
        struct heap_front *f = heap_front(h);
        struct bclass *k = &f->cls[heap_class_of[(size + h->rz + 15) >> 4]];
        struct chunk *ch = k->partial;
        if (likely(ch != NULL)) {
            void *p = ch->free;
            void *next = *(void **)p;
            ch->free = next;
            ch->used++;
            f->small_live += k->size;
            if (likely(next && !h->harden)) {
#if HEAP_CHECKED
                ((uint64_t *)p)[1] = 0; /* not the free key */
#endif
                return p;
            }
            return small_tail(h, k, ch, p, size);
        }
    }
    return kmalloc_slow(size, 16);
}

void *kmalloc_aligned(size_t size, size_t align)
{
    if (!IS_POW2(align) || align > MiB(1) || size > LIST_MAX_ALLOC)
        return NULL;
    if (align <= 16)
        return kmalloc(size);
    void *p = heap_aligned_small(&kheap, size, align);
    return p ? p : kmalloc_slow(size, align);
}

/* A chunk that was full, or is now empty. A chunk that was full joins the
 * tail of its class's list: the head keeps serving, and by the time this one
 * comes up it has gathered more free blocks, so chunks do not flip between
 * full and partial on every alloc/free pair. */
__attribute__((noinline)) static void small_free_tail(struct heap *h, struct chunk *ch,
                                                      void *head)
{
    struct bclass *k = &heap_front(h)->cls[ch->cls]; /* found again: kfree passes less */
    bool grew = false; /* idle memory grew: the release policy may run */
    if (!head) {
        struct chunk *last = k->ptail;
        ch->next = NULL;
        ch->prev = last;
        if (last)
            last->next = ch;
        else
            k->partial = ch;
        k->ptail = ch;
        if (last && last->used == 0 && !last->prev) { /* an empty chunk is only kept alone */
            block_release(h, last);
            grew = true;
        }
    }
    /* Keep an empty chunk only when it is the class's last partial one, and
     * tell the release policy it is idle (once: a pair on a class's last
     * block empties the same span every time). */
    if (ch->used == 0) {
        if (ch->next || ch->prev) {
            block_release(h, ch);
            grew = true;
        } else if (!ch->noted) {
            ch->noted = 1;
            h->idle_noted += (size_t)ch->units * CHUNK_SIZE;
            grew = true;
        }
    }
    if (grew)
        heap_release_check(h); /* last: a run may release any empty span */
}

static inline void small_free(struct heap *h, struct chunk *ch, void *p)
{
    struct heap_front *f = heap_front(h);
    void *head = ch->free;
    *(void **)p = head;
    ch->free = p;
    f->small_live -= f->cls[ch->cls].size;
    if (unlikely(--ch->used == 0 || !head))
        small_free_tail(h, ch, head);
}

/* A pointer outside the heap's bounds: NULL and bump pointers are fine.
 * Out of line, so that kfree's fast path keeps p in a scratch register and
 * saves none. */
__attribute__((noinline)) static void kfree_outside(void *p)
{
    /* kfence hook: the pool lies outside the heap's bounds, so a sampled
     * object comes here, and goes back to kfence before any read through
     * it. (Not at kfree's top: that cost 0.4 ns of a 3.7 ns pair.) */
    if (kfence_owns(p)) {
        kfence_free(p);
        return;
    }
    if (p && !bump_contains(p))
        heap_fail("kfree of a pointer the heap never returned", p);
}

/* Check that p is a live list block; returns its usable size. The segment
 * list vouches for p's header before anything is read through p. */
static size_t list_live(struct heap *h, const void *p)
{
    if (unlikely(!list_could_be_block(h, p)))
        heap_fail("kfree of a pointer the heap never returned", p);
    uint64_t info = hdr_of(p)->info;
#if HEAP_CHECKED
    uint32_t check = (uint32_t)hdr_of(p)->tag;
    if (unlikely(check != heap_check_word(h, p, HSTATE_ALLOC) ||
                 (info & (HB_USED | HB_CHUNK)) != HB_USED))
        heap_fail(check == heap_check_word(h, p, HSTATE_FREE)
                      ? "double free (of a list block)"
                      : "kfree of a pointer the heap never returned",
                  p);
#else
    if (unlikely((info & (HB_USED | HB_CHUNK)) != HB_USED))
        heap_fail((info & HB_USED) ? "kfree of a pointer the heap never returned"
                                   : "double free (of a list block)",
                  p);
#endif
#if PAGODA_HEAP_HARDEN
    if (h->harden)
        return harden_verify(h, p, NULL);
#endif
    return list_capacity(p);
}

static void kfree_checked(struct heap *h, void *p, struct chunk *ch);

#if HEAP_CHECKED
/* A level-0 free that failed the block-start test, or found the free key:
 * name it (or, if the key was user data, free the block after all). */
__attribute__((noinline)) static void small_check_free(struct heap *h, struct chunk *ch, void *p)
{
    if (h->harden) { /* the header's check words do it */
        kfree_checked(h, p, ch);
        return;
    }
    uintptr_t a = (uintptr_t)p, first = chunk_first(ch);
    if (!chunk_is_block_start(ch, p)) {
        if (a >= ch->carve && a < ch->limit && (a - first) % ch->stride == 0)
            heap_fail("kfree of a block the heap never handed out", p);
        heap_fail("kfree of a pointer the heap never returned", p);
    }
    uint32_t n = 0;
    for (const void *f = ch->free; f && n <= ch->total; f = *(void *const *)f, n++)
        if (f == p)
            heap_fail("double free", p);
    small_free(h, ch, p); /* live data that looked like the key */
}
#endif

__attribute__((noinline)) static void kfree_checked(struct heap *h, void *p, struct chunk *ch)
{
    if ((uintptr_t)p & 15)
        heap_fail("kfree of a misaligned pointer", p);
    if (ch) {
#if PAGODA_HEAP_HARDEN
        if (h->harden) {
            h->live_bytes -= harden_verify(h, p, ch);
            harden_free(h, p, ch);
        }
#endif
        small_free(h, ch, p);
        return;
    }
    size_t usable = list_live(h, p);
#if PAGODA_HEAP_HARDEN
    if (h->harden)
        harden_free(h, p, NULL);
#endif
#if HEAP_CHECKED
    if (!h->harden) /* a second kfree finds FREE, even after a merge */
        hdr_of(p)->tag = heap_check_word(h, p, HSTATE_FREE);
#endif
    h->live_bytes -= usable;
    h->list_live_objects--;
    heap_note_big_free(h, list_capacity(p));
    list_free(h, p);
    heap_release_check(h);
}

void kfree(void *p)
{
    struct heap *h = &kheap;
    if (unlikely((uintptr_t)p - h->lo >= h->hi - h->lo)) {
        kfree_outside(p);
        return;
    }
    struct chunk *ch = chunk_of(h, p);
#if HEAP_CHECKED
    if (likely(ch != NULL)) {
        /* The block-start test against fast_carved, which is 0 when
         * hardening: such frees, and every suspect one, take the slow path. */
        uint64_t key = chunk_free_key(ch), q = (uint64_t)((uintptr_t)p - ch->first) * ch->div_inv;
        q = (q >> ch->div_shift) | (q << ((64 - ch->div_shift) & 63));
        if (unlikely(q >= ch->fast_carved || ((uint64_t *)p)[1] == key)) {
            small_check_free(h, ch, p);
            return;
        }
        ((uint64_t *)p)[1] = key; /* free now: a second kfree finds the key */
        small_free(h, ch, p);
        return;
    }
#else
    if (likely(ch && !(h->harden | ((uintptr_t)p & 15)))) {
        small_free(h, ch, p);
        return;
    }
#endif
    kfree_checked(h, p, ch);
}

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
    if (!ch)
        return list_live(h, p);
#if PAGODA_HEAP_HARDEN
    if (h->harden)
        return harden_verify(h, p, ch);
#endif
#if HEAP_CHECKED
    if (!chunk_is_block_start(ch, p))
        heap_fail("not a live block the heap returned", p);
#endif
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
    else if (need > KHEAP_SMALL_MAX)
        fits = list_resize(h, p, need);
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
        if (h->harden || !ch) { /* see heap_live_total */
            h->live_bytes = h->live_bytes - old + usable;
            h->peak_live_bytes = MAX(h->peak_live_bytes, h->live_bytes);
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
