/*
 * kmalloc and friends: the chain bump -> blocks -> list, and the hardening.
 *
 * Routing. Before kheap_init every request goes to the bump arena. After it,
 * a request of up to KHEAP_SMALL_MAX bytes (redzone included) is a small
 * block of the class heap_class_of names; anything larger, and every
 * alignment above 16, is a list block. kfree reads the word in front of the
 * pointer: HB_SMALL means a small block (chunk and class are in that word),
 * anything else a list block. Bump pointers are recognised by address.
 *
 * Hardening (level 1, the default): the header's tag holds a check word
 * derived from the address, a secret and the state (allocated or free), and
 * the requested size. kfree verifies the check word (a double free finds the
 * FREE word, an invalid free finds neither), then the 8-byte canary that
 * follows the requested size, then marks the block FREE and poisons its
 * first POISON_CHEAP bytes (level 2: the whole payload). Handing a small
 * block out again verifies the FREE word and the poison, catching a write
 * through a dangling pointer. Any failure panics naming the address, size
 * and class. The cost is a few loads and stores on lines kfree touches
 * anyway, plus the poison memset/compare.
 *
 * Statistics are kept inline (live bytes, peak, per-class counts): a few
 * adds per call. No locks: one CPU, and the heap is never entered from an
 * interrupt handler.
 */
#include <pagoda/errno.h>

#include "heap_internal.h"

struct heap kheap;

static inline size_t redzone(const struct heap *h)
{
#if PAGODA_HEAP_HARDEN
    return h->harden ? REDZONE : 0;
#else
    return 0;
#endif
}

void kheap_init(struct heap_source *src, int harden)
{
    memset(&kheap, 0, sizeof(kheap));
#if PAGODA_HEAP_HARDEN
    kheap.harden = harden < 0 ? PAGODA_HEAP_HARDEN : MIN(harden, 2);
#else
    kheap.harden = 0;
#endif
    kheap.secret = (uint32_t)(((uintptr_t)src >> 4) * 0x85ebca6bu) ^ 0x3c6ef372u;
    list_init(&kheap);
    block_init(&kheap);
    kheap.src = src;
}

bool kheap_ready(void) { return kheap.src != NULL; }

__attribute__((noreturn)) void heap_fail(const char *what, const void *p)
{
    const struct hhdr *hd = hdr_of(p);
    if (((uintptr_t)p & 15) == 0 && list_contains(&kheap, hd)) {
        uint64_t info = hd->info;
        unsigned long long req = kheap.harden ? hd->tag >> 32 : 0;
        if (info & HB_SMALL) {
            unsigned c = (unsigned)(info >> 8) & 0xff;
            panic("heap: %s at %p (size %llu, class %u of %u-byte blocks)", what, p, req, c,
                  c < KHEAP_NCLASSES ? heap_class_size[c] : 0);
        }
        panic("heap: %s at %p (size %llu, list block of %llu bytes)", what, p, req,
              (unsigned long long)(info & ~(uint64_t)HB_FLAGS));
    }
    panic("heap: %s at %p (not a heap address)", what, p);
}

/* ---------------------------------------------------------------- small blocks */

static inline void *small_alloc(struct heap *h, unsigned cls)
{
    struct bclass *k = &h->cls[cls];
    struct chunk *ch = k->partial;
    if (unlikely(!ch)) {
        ch = block_refill(h, cls);
        if (!ch)
            return NULL;
    }
    void *p = ch->free;
    ch->free = *(void **)p;
    if (unlikely(ch->used++ == 0))
        k->nempty--;
    if (unlikely(!ch->free)) { /* full: off the list */
        k->partial = ch->next;
        if (ch->next)
            ch->next->prev = NULL;
        ch->next = NULL;
    }
    k->live++;
    k->allocs++;
    return p;
}

static inline void small_free(struct heap *h, void *p, uint64_t info)
{
    struct chunk *ch = (struct chunk *)((uintptr_t)p - HDR_SIZE - (info >> 32));
    unsigned cls = (unsigned)(info >> 8) & 0xff;
    if (unlikely(cls >= KHEAP_NCLASSES || (uintptr_t)ch < h->lo || ch->magic != CHUNK_MAGIC ||
                 ch->cls != cls))
        heap_fail("kfree of a pointer the heap never returned (bad block header)", p);
    struct bclass *k = &h->cls[cls];
    void *head = ch->free;
    *(void **)p = head;
    ch->free = p;
    k->live--;
    if (unlikely(!head)) { /* was full: serve from it again */
        ch->prev = NULL;
        ch->next = k->partial;
        if (k->partial)
            k->partial->prev = ch;
        k->partial = ch;
    }
    if (unlikely(--ch->used == 0) && ++k->nempty > 1)
        block_release(h, ch);
}

/* ---------------------------------------------------------------- hardening */

#if PAGODA_HEAP_HARDEN
static void harden_alloc(struct heap *h, void *p, size_t size, bool small)
{
    struct hhdr *hd = hdr_of(p);
    if (small) {
        if (unlikely(hd->tag != heap_check_word(h, p, HSTATE_FREE)))
            heap_fail("free block header overwritten (overflow from the block below?)", p);
        size_t end = block_poison_end(h, h->cls[(hd->info >> 8) & 0xff].size);
        uint64_t bad = 0, w;
        for (size_t i = 8; i < end; i += 8) { /* sizes are multiples of 16 */
            memcpy(&w, (const uint8_t *)p + i, 8);
            bad |= w ^ POISON_WORD;
        }
        if (unlikely(bad))
            heap_fail("write after free (poison overwritten) in block", p);
    }
    hd->tag = ((uint64_t)size << 32) | heap_check_word(h, p, HSTATE_ALLOC);
    uint64_t c = CANARY;
    memcpy((uint8_t *)p + size, &c, sizeof(c));
}

/* Verify a live block; returns its requested size. */
static size_t harden_verify(struct heap *h, const void *p)
{
    const struct hhdr *hd = hdr_of(p);
    uint32_t check = (uint32_t)hd->tag;
    if (unlikely(check != heap_check_word(h, p, HSTATE_ALLOC))) {
        if (check == heap_check_word(h, p, HSTATE_FREE))
            heap_fail("double free", p);
        heap_fail("kfree of a pointer the heap never returned (or header overwritten)", p);
    }
    size_t size = hd->tag >> 32;
    uint64_t c;
    memcpy(&c, (const uint8_t *)p + size, sizeof(c));
    if (unlikely(c != CANARY))
        heap_fail("redzone canary overwritten (buffer overflow)", p);
    return size;
}

static void harden_free(struct heap *h, void *p, uint64_t info)
{
    hdr_of(p)->tag = heap_check_word(h, p, HSTATE_FREE);
    if (info & HB_SMALL) {
        size_t end = block_poison_end(h, h->cls[(info >> 8) & 0xff].size);
        memset((uint8_t *)p + 8, POISON_BYTE, end - 8);
    } else if (h->harden >= 2) { /* list blocks merge on free: poisoned, never checked */
        memset((uint8_t *)p + 16, POISON_BYTE, list_capacity(p) - 24);
    }
}
#endif

/* ---------------------------------------------------------------- the API */

static inline void *finish_alloc(struct heap *h, void *p, size_t size, size_t cap, bool small)
{
    size_t usable = cap;
#if PAGODA_HEAP_HARDEN
    if (h->harden) {
        harden_alloc(h, p, size, small);
        usable = size;
    }
#endif
    h->live_bytes += usable;
    if (h->live_bytes > h->peak_live_bytes)
        h->peak_live_bytes = h->live_bytes;
    h->live_objects++;
    return p;
}

void *kmalloc(size_t size)
{
    struct heap *h = &kheap;
    if (unlikely(!h->src))
        return bump_kmalloc(size, 16);
    size_t rz = redzone(h);
    if (likely(size <= KHEAP_SMALL_MAX - rz)) {
        unsigned cls = heap_class_of[(size + rz + 15) >> 4];
        void *p = small_alloc(h, cls);
        if (unlikely(!p))
            return NULL;
        return finish_alloc(h, p, size, heap_class_size[cls], true);
    }
    if (size > LIST_MAX_ALLOC)
        return NULL;
    void *p = list_alloc(h, size + rz, 16, 0);
    return p ? finish_alloc(h, p, size, list_capacity(p), false) : NULL;
}

void *kmalloc_aligned(size_t size, size_t align)
{
    struct heap *h = &kheap;
    if (!IS_POW2(align) || align > MiB(1) || size > LIST_MAX_ALLOC)
        return NULL;
    if (align <= 16)
        return kmalloc(size);
    if (unlikely(!h->src))
        return bump_kmalloc(size, align);
    void *p = list_alloc(h, size + redzone(h), align, 0);
    return p ? finish_alloc(h, p, size, list_capacity(p), false) : NULL;
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

/* Check that p is a live heap pointer; returns its header word. */
static uint64_t live_info(struct heap *h, const void *p, size_t *usable)
{
    uintptr_t a = (uintptr_t)p;
    if (unlikely((a & 15) || a - h->lo >= h->hi - h->lo))
        heap_fail("kfree of a pointer the heap never returned", p);
    uint64_t info = hdr_of(p)->info;
    if (!(info & HB_SMALL) && unlikely((info & (HB_USED | HB_CHUNK)) != HB_USED))
        heap_fail((info & HB_USED) ? "kfree of a pointer the heap never returned"
                                   : "double free (of a list block)",
                  p);
#if PAGODA_HEAP_HARDEN
    if (h->harden) {
        *usable = harden_verify(h, p);
        return info;
    }
#endif
    *usable = (info & HB_SMALL) ? heap_class_size[(info >> 8) & 0xff] : list_capacity(p);
    return info;
}

void kfree(void *p)
{
    struct heap *h = &kheap;
    if (!p)
        return;
    if (unlikely((uintptr_t)p - h->lo >= h->hi - h->lo) && bump_contains(p))
        return;
    size_t usable;
    uint64_t info = live_info(h, p, &usable);
#if PAGODA_HEAP_HARDEN
    if (h->harden)
        harden_free(h, p, info);
#endif
    h->live_bytes -= usable;
    h->live_objects--;
    if (likely(info & HB_SMALL))
        small_free(h, p, info);
    else
        list_free(h, p);
}

size_t kmalloc_usable_size(const void *p)
{
    struct heap *h = &kheap;
    if (!p)
        return 0;
    if (bump_contains(p))
        return hdr_of(p)->info;
    size_t usable;
    live_info(h, p, &usable);
    return usable;
}

void *krealloc(void *p, size_t size)
{
    struct heap *h = &kheap;
    if (!p)
        return kmalloc(size);
    if (size == 0) {
        kfree(p);
        return NULL;
    }
    size_t old;
    if (bump_contains(p) || !h->src) {
        old = hdr_of(p)->info;
    } else {
        uint64_t info = live_info(h, p, &old);
        size_t rz = redzone(h), need = size + rz;
        bool fits = false;
        if (size > LIST_MAX_ALLOC)
            return NULL;
        if (info & HB_SMALL) { /* same class: nothing to move */
            fits = need <= KHEAP_SMALL_MAX &&
                   heap_class_of[(need + 15) >> 4] == ((info >> 8) & 0xff);
        } else if (need > KHEAP_SMALL_MAX && !(hdr_of(p)->info & HB_CHUNK)) {
            fits = list_resize(h, p, need);
        }
        if (fits) {
            size_t cap = (info & HB_SMALL) ? heap_class_size[(info >> 8) & 0xff] : list_capacity(p);
            size_t usable = cap;
#if PAGODA_HEAP_HARDEN
            if (h->harden) {
                struct hhdr *hd = hdr_of(p);
                hd->tag = ((uint64_t)size << 32) | (uint32_t)hd->tag;
                uint64_t c = CANARY;
                memcpy((uint8_t *)p + size, &c, sizeof(c));
                usable = size;
            }
#endif
            h->live_bytes = h->live_bytes - old + usable;
            h->peak_live_bytes = MAX(h->peak_live_bytes, h->live_bytes);
            return p;
        }
    }
    void *q = kmalloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, MIN(old, size));
    kfree(p);
    return q;
}

/* ---------------------------------------------------------------- statistics */

void kheap_stats(struct kheap_stats *st)
{
    const struct heap *h = &kheap;
    memset(st, 0, sizeof(*st));
    st->live_bytes = h->live_bytes;
    st->peak_live_bytes = h->peak_live_bytes;
    st->heap_bytes = h->heap_bytes;
    st->peak_heap_bytes = h->peak_heap_bytes;
    st->heap_pages = h->heap_bytes / PAGE_SIZE;
    st->live_objects = h->live_objects;
    st->list_free_bytes = h->free_bytes;
    st->list_free_blocks = h->free_blocks;
    st->list_used_blocks = h->used_blocks;
    st->grows = h->grows;
    st->shrinks = h->shrinks;
    st->bump_used = bump_used();
    st->bump_size = KBUMP_SIZE;
    st->harden = h->harden;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        const struct bclass *k = &h->cls[c];
        uint32_t per = k->stride ? (uint32_t)((k->chunk_bytes - sizeof(struct chunk)) / k->stride)
                                 : 0;
        st->cls[c] = (struct kheap_class_stats){
            .size = heap_class_size[c],
            .chunks = k->nchunks,
            .live = k->live,
            .capacity = (uint64_t)k->nchunks * per,
            .allocs = k->allocs,
        };
    }
}
