/*
 * kmalloc and friends: the chain bump -> blocks -> list, and the hardening.
 *
 * Routing. Before kheap_init every request goes to the bump arena. After it,
 * a request of up to KHEAP_SMALL_MAX bytes (redzone included) is a small
 * block of the class heap_class_of names; anything larger, and every
 * alignment above 16, is a list block. kfree first asks the page map's
 * window whether the pointer lies in a span of small blocks there: the
 * window holds nothing but spans, so such a pointer needs no bounds check,
 * and the leaf that names the span also holds copies of its class and its
 * block-start test, so the fast path never waits on the descriptor. Any
 * other pointer (kfree_far) must lie in the heap's bounds (NULL and bump
 * pointers do not: they are ignored) before the tree is asked, since the
 * tree's keys drop an address's top bits; in no span, it is a list block
 * with a header in front.
 *
 * Per-CPU fronts (heap_mag.c). Small blocks go through the running CPU's
 * front (heap_front): kmalloc pops from the class's loaded magazine, kfree
 * pushes onto one, with no lock; a free from another CPU lands in the
 * freeing CPU's magazine. Behind the fronts: each class's depot under its
 * own lock (heap_depot.c), then, under the heap lock (LOCK_LEVEL_HEAP):
 * the spans (block.c), the list allocator,
 * the release policy, the span descriptors' slab cache and the page map.
 * List blocks take the lock, but a plain one freed on the CPU that handed
 * it out, and the next request of about its size there, go through the
 * CPU's big-block front (heap_big.c) without it. The fast paths are a few
 * instructions with no call; everything rare (an empty or full magazine,
 * hardening, list blocks) is out of line. kfree reads the heap's bounds,
 * the page map (and its copies) and a span's descriptor without the lock:
 * they change under it, but never for a block that is live (a block's span
 * stays while it is out), and the bounds are stored whole (list.c).
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
 * a segment and carry the ALLOC check word in its header (or be one its
 * CPU's big-block front handed out and still vouches for). A double free and
 * a free of a pointer the heap never returned both panic, naming the
 * address, the block size and the class. kmalloc pays one store (clearing
 * the key), kfree a multiply, a rotate, two compares and a store (figures
 * in the README).
 *
 * The double-free confirmation under the lock searches the span's free
 * list, every CPU's magazines and the depot (heap_mag.c says why that is
 * safe), so a block whose first free sits in any magazine is still caught.
 *
 * Statistics are kept where blocks cross a lock, never on the fast paths:
 * per span and in the heap the small blocks out of the spans (in use or
 * cached in a magazine), in the heap the list blocks' bytes, per CPU its
 * big-block front's change to those and, when hardening, the requested
 * bytes of its small blocks (one CPU's may wrap, the sum is exact). The
 * peak of the bytes handed out (the cached blocks included) is noted under
 * the lock wherever the footprint can grow. Live bytes, per-class figures
 * and the blocks cached in magazines are summed only when asked
 * (kheap_stats: out of the spans less cached). Never entered from an
 * interrupt handler.
 */
#include <pagoda/errno.h>
#include <pagoda/kfence.h>

#include "heap_internal.h"

/* Initialised here: kheap_stats may run before kheap_init (the boot does). */
struct heap kheap = {.lock = SPINLOCK_INIT("heap", LOCK_LEVEL_HEAP)};

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
    spin_init(&kheap.lock, "heap", LOCK_LEVEL_HEAP);
    list_init(&kheap);
    block_init(&kheap);
    mag_init();
    kheap.src = src;
    kheap.small_limit = src ? KHEAP_SMALL_MAX - kheap.rz + 1 : 0;
    kheap.fast_limit = kheap.harden ? 0 : kheap.small_limit;
}

bool kheap_ready(void)
{
    return kheap.src != NULL;
}

/* ---------------------------------------------------------------- the paths */

size_t heap_out_bytes(struct heap *h)
{
    size_t n = MAG_LD(h->live_bytes) + (h->harden ? 0 : h->span_out_bytes);
    /* Only CPUs that exist have used a front (indexes below cpu_count(); on
     * the host, below the most threads that ever held one): a loop over all
     * SMP_MAX_CPUS cost 135 instructions of a 750-instruction large pair. */
    unsigned ncpu = MIN(cpu_count(), (unsigned)SMP_MAX_CPUS);
    for (unsigned i = 0; i < ncpu; i++)
        n += h->harden ? MAG_LD(heap_fronts[i].harden_live) : MAG_LD(heap_fronts[i].big.live);
    return n;
}

/* The peak, noted under the lock wherever the footprint can grow: at every
 * magazine refill from the spans and every list allocation. Small blocks
 * leave their spans only there, so at level 0 it is the exact peak of
 * heap_out_bytes (but for the big-block fronts' lock-free reuse). */
void heap_note_peak(struct heap *h)
{
    size_t n = heap_out_bytes(h);
    if (n > h->peak_live_bytes)
        h->peak_live_bytes = n;
}

/* A small block just handed out: the level-0 key cleared, or hardening. */
__attribute__((noinline)) static void *small_tail(struct heap *h, struct heap_front *f,
                                                  uint32_t csize, void *p, size_t size)
{
#if PAGODA_HEAP_HARDEN
    if (h->harden) {
        harden_alloc(h, p, size, csize);
        MAG_ST(f->harden_live, f->harden_live + size);
        return p;
    }
#endif
    UNUSED(f), UNUSED(csize), UNUSED(size);
#if HEAP_CHECKED
    ((uint64_t *)p)[1] = 0; /* not the free key */
#endif
    return p;
}

/* The loaded magazine is empty. */
__attribute__((noinline)) static void *kmalloc_small_slow(struct heap *h, struct heap_front *f,
                                                          unsigned cls, size_t size)
{
    void *p = mag_alloc_slow(h, f, cls);
    return p ? small_tail(h, f, heap_class_size[cls], p, size) : NULL;
}

/* The pop itself, from the loaded magazine m of this CPU, which holds n > 0
 * blocks: its top block. The callers test n (a test of the block for NULL
 * would cost the fast path two more instructions). No live counter: the
 * spans count the blocks out of them, the magazines those cached, and
 * kheap_stats takes the difference (a per-CPU counter here and in kfree
 * cost a pair 7 instructions and a chain of stores). */
static inline void *mag_take(struct mag *m, uint32_t n)
{
    void *p = m->obj[n - 1]; /* the owner reads its own stores: no race */
    MAG_ST(m->rounds, n - 1);
    return p;
}

/* A small block when hardening: the pop, for the request and its redzone,
 * then the header and the poison check (small_tail). */
static void *kmalloc_small_hardened(struct heap *h, size_t size)
{
    struct heap_front *f = heap_front(h);
    unsigned cls = heap_class_of[(size + h->rz + 15) >> 4];
    struct mag *m = MAG_LD(f->loaded[cls]);
    uint32_t n = MAG_LD(m->rounds);
    if (n == 0)
        return kmalloc_small_slow(h, f, cls, size);
    return small_tail(h, f, heap_class_size[cls], mag_take(m, n), size);
}

/* Before kheap_init, and large or over-aligned requests: the list allocator. */
__attribute__((noinline)) static void *kmalloc_slow(size_t size, size_t align)
{
    struct heap *h = &kheap;
    if (!h->src)
        return bump_kmalloc(size, align);
    if (size > LIST_MAX_ALLOC)
        return NULL;
    if (size < h->small_limit && align <= 16)
        return h->harden ? kmalloc_small_hardened(h, size) : kmalloc(size);
    bool plain = HEAP_CHECKED && !h->harden && align <= 16;
    if (plain) { /* a block this CPU kept (heap_big.c) */
        void *p = big_take(h, size);
        if (p)
            return p;
    }
    spin_lock(&h->lock);
    if (plain)
        big_miss(h);
    void *p = list_alloc(h, size + h->rz, align, 0);
    if (p) {
        h->list_live_objects++;
        size_t bytes = list_capacity(p);
#if PAGODA_HEAP_HARDEN
        if (h->harden) {
            harden_alloc(h, p, size, 0);
            bytes = size;
        }
#endif
#if HEAP_CHECKED
        if (!h->harden)
            hdr_of(p)->tag = heap_check_word(h, p, HSTATE_ALLOC);
#endif
        if (plain)
            big_note(h, p);
        MAG_ST(h->live_bytes, h->live_bytes + bytes);
        heap_note_peak(h);
    }
    spin_unlock(&h->lock);
    return p;
}

/* kfence hook: a sampled allocation, or (pool full, too big) the heap's.
 * Out of line and reached by a tail call, so kmalloc's fast path saves no
 * register for it. kfence re-armed this CPU's countdown; the increment
 * keeps the retry below from being sampled again (interval 1, pool full),
 * and when sampling is off it wraps UINT64_MAX to 0, which the retry's
 * decrement takes back. */
__attribute__((noinline)) static void *kmalloc_sampled(size_t size)
{
    void *p = kfence_alloc_sampled(size);
    if (p)
        return p;
    struct heap_front *f = heap_front(&kheap);
    MAG_ST(f->sample_countdown, f->sample_countdown + 1);
    return kmalloc(size);
}

/* kmalloc of a host thread without a stand-in CPU (see kfree_attach). */
__attribute__((noinline)) static void *kmalloc_attach(size_t size)
{
    heap_cpu();
    return kmalloc(size);
}

/* A level-0 block of class cls from this CPU's magazine (a pop), or its
 * refill. */
static inline void *small_pop(struct heap *h, struct heap_front *f, unsigned cls)
{
    struct mag *m = MAG_LD(f->loaded[cls]);
    uint32_t n = MAG_LD(m->rounds);
    if (unlikely(n == 0))
        return kmalloc_small_slow(h, f, cls, heap_class_size[cls]);
    void *p = mag_take(m, n);
#if HEAP_CHECKED
    ((uint64_t *)p)[1] = 0; /* not the free key */
#endif
    return p;
}

void *kmalloc(size_t size)
{
    struct heap_front *f = heap_front_attached();
    if (unlikely(f == NULL))
        return kmalloc_attach(size);
    uint64_t cd = MAG_LD(f->sample_countdown) - 1;
    MAG_ST(f->sample_countdown, cd);
    if (unlikely(cd == 0)) /* kfence hook: one in about N */
        return kmalloc_sampled(size);
    struct heap *h = &kheap;
    if (likely(size < h->fast_limit)) /* level 0: no redzone, no header */
        return small_pop(h, f, heap_class_of[(size + 15) >> 4]);
    return kmalloc_slow(size, 16);
}

void *kmalloc_aligned(size_t size, size_t align)
{
    if (!IS_POW2(align) || align > MiB(1) || size > LIST_MAX_ALLOC)
        return NULL;
    if (align <= 16)
        return kmalloc(size);
    /* A class whose size align divides: all its blocks are aligned
     * (block.c). Level 0 only (hardening's headers break it), never
     * sampled (a kfence object sits against its guard page). */
    struct heap *h = &kheap;
    unsigned c = size < h->fast_limit ? block_aligned_class(size, align) : KHEAP_NCLASSES;
    if (c < KHEAP_NCLASSES) {
        struct heap_front *f = heap_front_attached();
        return small_pop(h, f ? f : heap_front(h), c);
    }
    return kmalloc_slow(size, align);
}

/* A free small block of class cls (span ch) onto this CPU's loaded
 * magazine of the class (the fast path: a push), or mag_free_slow when that
 * magazine is full. kfree takes the class from the page map's leaf, the
 * other callers from the descriptor. (A guess from the class this CPU
 * freed last, so that the push would not wait for the page-map lookup,
 * cost two instructions and measured no faster.) */
static inline void small_free_cls(struct heap *h, struct heap_front *f, struct chunk *ch,
                                  uintptr_t cls, void *p)
{
    struct mag *m = MAG_LD(f->loaded[cls]);
    uint32_t n = MAG_LD(m->rounds);
    if (likely(n < m->cap)) {
        MAG_ST(m->obj[n], p);
        MAG_ST(m->rounds, n + 1);
        return;
    }
    mag_free_slow(h, f, ch, p);
}

static inline void small_free_on(struct heap *h, struct heap_front *f, struct chunk *ch, void *p)
{
    small_free_cls(h, f, ch, ch->cls, p);
}

static inline void small_free(struct heap *h, struct chunk *ch, void *p)
{
    small_free_on(h, heap_front(h), ch, p);
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
 * list vouches for p's header before anything is read through p. Under
 * the heap lock. */
size_t list_live(struct heap *h, const void *p, uint64_t *tagp)
{
    if (unlikely(!list_could_be_block(h, p)))
        heap_fail("kfree of a pointer the heap never returned", p);
    uint64_t info = hdr_of(p)->info;
#if HEAP_CHECKED
    /* One load: the owner's lock-free free may rewrite the tag meanwhile,
     * and the owner bits the caller acts on must be those checked here. */
    uint64_t tag = MAG_LD(hdr_of(p)->tag);
    uint32_t check = (uint32_t)tag;
    if (tagp)
        *tagp = tag;
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

void (*volatile heap_big_window_hook)(void);

#if HEAP_CHECKED
/* A level-0 free that failed the block-start test (against a carved count
 * read without the lock), or found the free key: decide under the lock.
 * The key is confirmed by looking for the block where free blocks are: its
 * span's free list, every CPU's magazines and the depot. Found: a double
 * free. Not found: live data that looked like the key, freed after all. */
__attribute__((noinline)) static void small_check_free(struct heap *h, struct chunk *ch, void *p)
{
    if (h->harden) { /* the header's check words do it */
        kfree_checked(h, p, ch);
        return;
    }
    spin_lock(&h->lock);
    uintptr_t a = (uintptr_t)p, first = chunk_first(ch);
    if (!chunk_is_block_start(ch, p)) {
        if (a >= ch->carve && a < ch->limit && (a - first) % ch->stride == 0)
            heap_fail("kfree of a block the heap never handed out", p);
        heap_fail("kfree of a pointer the heap never returned", p);
    }
    /* A block on a page given back (heap_holes.c) is free: not read. */
    if (span_hole_overlaps(ch, p))
        heap_fail("double free", p);
    if (((uint64_t *)p)[1] == chunk_free_key(ch)) {
        uint32_t n = 0;
        for (const void *f = ch->free; f && n <= ch->total; f = *(void *const *)f, n++)
            if (f == p)
                heap_fail("double free", p);
        if (mag_holds(h, ch->cls, p))
            heap_fail("double free", p); /* its first free sits in a magazine */
    }
    spin_unlock(&h->lock);
    ((uint64_t *)p)[1] = chunk_free_key(ch);
    small_free(h, ch, p);
}

/* The free key's test and mark, once p is known to be a carved block start
 * that is safe to read: a key already there sends it to the locked check. */
static inline void small_free_keyed(struct heap *h, struct heap_front *f, struct chunk *ch,
                                    uintptr_t cls, void *p, uint64_t key)
{
    if (unlikely(((uint64_t *)p)[1] == key)) {
        small_check_free(h, ch, p);
        return;
    }
    ((uint64_t *)p)[1] = key; /* free now: a second kfree finds the key */
    small_free_cls(h, f, ch, cls, p);
}

/* A free that failed kfree's inline block-start tests. A span with holes
 * (heap_holes.c) has those tests off: a carved block start there that is
 * on a page given back is free already, and any other is freed as usual,
 * without the lock. Everything else goes to small_check_free. */
__attribute__((noinline)) static void small_free_uncovered(struct heap *h, struct chunk *ch,
                                                           void *p)
{
    if (likely(!MAG_LD(ch->holes)) || h->harden || !chunk_is_block_start(ch, p)) {
        small_check_free(h, ch, p);
        return;
    }
    if (span_hole_overlaps(ch, p))
        heap_fail("double free", p);
    small_free_keyed(h, heap_front_attached(), ch, ch->cls, p, chunk_free_key(ch));
}
#endif

__attribute__((noinline)) static void kfree_checked(struct heap *h, void *p, struct chunk *ch)
{
    if ((uintptr_t)p & 15)
        heap_fail("kfree of a misaligned pointer", p);
    if (ch) {
#if PAGODA_HEAP_HARDEN
        if (h->harden) {
            struct heap_front *f = heap_front(h);
            MAG_ST(f->harden_live, f->harden_live - harden_verify(h, p, ch));
            harden_free(h, p, ch);
        }
#endif
        small_free(h, ch, p);
        return;
    }
    if (!h->harden && big_put(h, p)) /* handed out by this CPU lately (heap_big.c) */
        return;
    spin_lock(&h->lock);
    uint64_t tag = 0;
    size_t usable = list_live(h, p, &tag);
#if PAGODA_HEAP_HARDEN
    if (h->harden)
        harden_free(h, p, NULL);
#endif
#if HEAP_CHECKED
    if (!h->harden) {
        if (heap_big_window_hook)
            heap_big_window_hook(); /* (tests: the owner's free may run meanwhile) */
        if (!big_forget(h, p, tag)) /* the CPU that handed it out freed it first */
            heap_fail("double free (of a list block)", p);
        MAG_ST(hdr_of(p)->tag, (uint64_t)heap_check_word(h, p, HSTATE_FREE)); /* a second kfree finds FREE */
    }
#endif
    MAG_ST(h->live_bytes, h->live_bytes - usable);
    h->list_live_objects--;
    heap_note_big_free(h, list_capacity(p));
    list_free(h, p);
    heap_release_check(h);
    spin_unlock(&h->lock);
}

/* kfree without a front: a host thread's first call. Out of line, so that
 * kfree's fast path holds no value across a call. */
__attribute__((noinline)) static void kfree_attach(void *p)
{
    heap_front(&kheap);
    kfree(p);
}

/* kfree of p, known to lie in the heap's bounds, whose span (if any) is ch,
 * with ch's fast word w and class cls (kfree's fast path reads the page
 * map's copies of both). */
static inline void kfree_in_heap(struct heap *h, struct heap_front *f, void *p, struct chunk *ch,
                                 uint64_t w, uintptr_t cls)
{
#if HEAP_CHECKED
    if (likely(ch != NULL)) {
        /* The block-start test: the short one (fast_word_start), else, for
         * a span that it does not cover, the exact one; then the free key.
         * Every suspect free takes the slow path (0 limits when hardening). */
        uint64_t key = chunk_free_key(ch);
        if (unlikely(!fast_word_start(w, p)) && unlikely(!chunk_carved_start(ch, p))) {
            small_free_uncovered(h, ch, p); /* also every free into a span with holes */
            return;
        }
        small_free_keyed(h, f, ch, cls, p, key);
        return;
    }
#else
    (void)w;
    if (likely(ch && !(h->harden | ((uintptr_t)p & 15)))) {
        small_free_cls(h, f, ch, cls, p);
        return;
    }
#endif
    kfree_checked(h, p, ch);
}

/* A pointer in no span of the window: a list block, a small block outside
 * the window, or one outside the heap's bounds (NULL, bump, kfence, or no
 * heap pointer at all). Out of line, so that kfree's fast path saves no
 * register. */
__attribute__((noinline)) static void kfree_far(struct heap *h, struct heap_front *f, void *p)
{
    uintptr_t lo = MAG_LD(h->lo);
    if (unlikely((uintptr_t)p - lo >= MAG_LD(h->hi) - lo)) {
        kfree_outside(p);
        return;
    }
    struct chunk *ch = chunk_outside_window(h, p);
    kfree_in_heap(h, f, p, ch, ch ? MAG_LD(ch->fast_w) : 0, ch ? ch->cls : 0);
}

void kfree(void *p)
{
    struct heap *h = &kheap;
    struct heap_front *f = heap_front_attached();
    if (unlikely(f == NULL)) {
        kfree_attach(p);
        return;
    }
    /* The window first: a span there is in the heap's bounds, so the bounds
     * check waits for the pointers that miss it (kfree_far). */
    uintptr_t w = map_win_unit(h, p);
    if (unlikely(w >= MAP_WINDOW >> CHUNK_SHIFT)) {
        kfree_far(h, f, p);
        return;
    }
    const struct hmap_leaf *l = map_win_leaf(h, w);
    unsigned i = w & (MAP_FAN - 1);
    struct chunk *ch = MAG_LD(l->ch[i]);
    if (unlikely(ch == NULL)) {
        kfree_far(h, f, p);
        return;
    }
    kfree_in_heap(h, f, p, ch, MAG_LD(l->fast[i]), MAG_LD(l->cls[i]));
}
