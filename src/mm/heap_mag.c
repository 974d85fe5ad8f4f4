/*
 * The magazine layer: per-CPU caches of free small blocks in front of the
 * span layer (Bonwick & Adams, "Magazines and Vmem", USENIX 2001).
 *
 * Theory of operation
 * -------------------
 * A magazine is an array of up to `cap` free blocks of one class. Each CPU
 * has, per class, a loaded magazine and a previous one (struct heap_front,
 * reached through heap_front: an array indexed by the CPU's index). kmalloc
 * pops from the loaded magazine and kfree pushes onto it, with no lock and
 * no atomic read-modify-write: only its CPU touches a CPU's magazines, and
 * the kernel is never preempted inside the heap nor enters it from an
 * interrupt handler. A free from another CPU lands in the freeing CPU's
 * magazine: correct (the block goes back to its own span when the
 * magazine is flushed) and as cheap as a local free.
 *
 * When the loaded magazine is empty (kmalloc) or full (kfree), the CPU
 * first swaps it with the previous one if that one can serve (has a block /
 * has room); a CPU alternating between allocating and freeing around a
 * magazine boundary so never leaves its two magazines. Only then does it
 * trade with its class's depot (heap_depot.c), under the depot's own lock:
 * kmalloc gives back its empty previous magazine and loads a full one;
 * kfree gives back its full previous one and loads an empty one. Blocks
 * move between magazines and spans only under the heap lock: with no full
 * magazine in the depot, kmalloc fills the loaded one from the spans
 * (span_alloc, a whole magazine per lock trip); kfree takes the heap lock
 * when the depot has no empty magazine (it makes one, a list block) or
 * wants no more full ones. The depot keeps full magazines only as deep as
 * allocations have lately wanted them (`want`, up by one when a refill
 * found none, to at most DEPOT_FULL_MAX, down by one on each flush): past
 * that, the full magazine is flushed to its spans instead, with one of the
 * depot's, so that a burst of frees that no CPU allocates from ends with
 * its blocks in their spans, where the release policy sees them, while a
 * producer/consumer pair of CPUs keeps trading whole magazines. Such a
 * flush takes along this CPU's magazines of every other class that no
 * allocation wants either: once a burst ends no free reaches their slow
 * paths, and each block left in one pins its (otherwise empty) span. And
 * a CPU left with no magazine of a class that nobody wants (a release run
 * or a drain took them) frees its blocks straight to their spans until an
 * allocation wants one: after a burst of 100,000 frees of 8 B-2 KiB, the
 * heap then held 0.7-1.7 MiB over eight orders, against 1.1-7.0 MiB when
 * up to a magazine per class stayed behind (at 2 KiB, each of 8 blocks
 * pinning a 32 KiB span).
 *
 * Sizes: a magazine starts at about 32 KiB of blocks, between 512 rounds
 * (8 KiB of 16-byte blocks, 16 KiB of 32-byte ones) and 8 (above 4 KiB;
 * 4 above 64 KiB), so one CPU caches ~64 KiB per class up to 4 KiB, 16
 * blocks above, plus the depot's share. Why
 * 32 KiB: a CPU alternating at random between allocating and freeing a
 * class walks its magazine's fill level at random and reaches an edge
 * about capacity-squared times less often. In the bench's random mix of
 * 8 B-2 KiB, 16 KiB magazines sent 3.3% of kmalloc and of kfree calls to
 * their slow paths; in alternating runs (depots of eight full magazines)
 * a step took 12.3-12.7 ns with 16 KiB, 11.5-11.8 with 32 and 11.5-12.0
 * with 64, peak RSS over live was 1.30, 1.31-1.32 and 1.40, and a burst
 * of frees left 1.2-1.4 MiB, 1.0-1.1 and 1.8-1.9 held (the depot flushing
 * what bursts leave); with 32 KiB and four, 11.5-11.9 ns. A class
 * whose depot or heap lock is contended (several CPUs trading at once)
 * grows its magazines, Bonwick's adaptation (heap_depot.c): on one CPU
 * nothing ever waits, so nothing grows. Magazines are list blocks aligned
 * and padded to cache lines, so two CPUs' magazines share no line (their
 * counts and top slots are written on every push and pop, and a full
 * magazine's top slot is its last word, beside the next block's header:
 * with 32 KiB magazines, three runs of the 2-thread pairs took 3.9-7.2 ns
 * a pair aligned, 7.6-13.0 unaligned). A refill pops the last block it
 * took from the span first, so the block a CPU uses next lies beside the
 * next refill's (maybe another CPU's) last-used one, not its first-used.
 *
 * What sits in a magazine is free: at level 0 it keeps its span's free key
 * in its second word (so a second kfree of it finds the key), when
 * hardening it has the FREE check word and its poison, exactly as on a
 * span's free list; the span counts it as in use. The double-free
 * confirmation (kmalloc.c, under the heap lock) looks for the block on its
 * span's free list, in every CPU's two magazines and in the depot, holding
 * the class's depot lock too: another CPU's magazines cannot leave it or
 * come to it then (exchanges take that lock, refills and flushes the heap
 * lock, and each stores the CPU's front pointers before unlocking), and a
 * concurrent swap is caught by reading the loaded pointer before and after
 * the previous one. Only a block that its owner pops at the very moment of
 * a racing second free can be missed: that free is then a use-after-free
 * of a live block, which no check sees.
 *
 * Statistics: blocks in magazines are free-but-cached: kheap_stats reports
 * them per class (`cached`) and takes them out of the spans' in-use
 * counts. The release policy drains the depot first (heap_release_run);
 * kheap_mag_drain flushes the calling CPU's magazines too (kheap_trim calls
 * it; the kernel asks every CPU with smp_call_all; a host thread's are
 * drained when it ends).
 *
 * Lock order: the heap lock (LOCK_LEVEL_HEAP), then a depot lock inside it
 * (LOCK_LEVEL_HEAP_DEPOT; an exchange takes the depot lock alone); the slab
 * caches' own magazines (slab.c) are drained before either is taken.
 */
#include <pagoda/slab.h>

#include "heap_internal.h"

struct heap_front heap_fronts[SMP_MAX_CPUS];
struct mag heap_mag_none; /* cap 0 */

#ifndef PAGODA_KERNEL
__thread unsigned heap_tls_cpu __attribute__((tls_model("initial-exec")));
__thread struct heap_front *heap_tls_front __attribute__((tls_model("initial-exec")));

static void heap_cpu_exit(struct cpu *c)
{
    UNUSED(c);
    kheap_mag_drain();
}

unsigned heap_cpu_attach(void)
{
    unsigned i = this_cpu()->index + 1;
    cpu_host_on_exit(heap_cpu_exit);
    heap_tls_cpu = i;
    heap_tls_front = &heap_fronts[i - 1];
    return i;
}
#endif

void mag_init(void)
{
    /* kfence's countdowns outlive a new heap (kfence may be set up first). */
    uint64_t countdown[SMP_MAX_CPUS];
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        countdown[i] = heap_fronts[i].sample_countdown;
    memset(heap_fronts, 0, sizeof(heap_fronts));
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        heap_fronts[i].sample_countdown = countdown[i];
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
            heap_fronts[i].loaded[c] = heap_fronts[i].prev[c] = &heap_mag_none;
    depot_init(&kheap);
}

struct mag *heap_mag_new(struct heap *h, unsigned cls)
{
    struct mag_depot *d = &h->depot[cls];
    struct mag *retired = NULL, *m = NULL;
    uint32_t cap = MAG_LD(d->grow.cap);
    if (MAG_LD(d->nempty)) { /* no lock trip for nothing (one CPU makes its own) */
        depot_lock(d);
        m = depot_get_empty(d, &retired);
        cap = d->grow.cap;
        spin_unlock(&d->lock);
        mag_destroy_list(h, retired);
        if (m)
            return m;
    }
    /* Whole cache lines: another CPU's magazine never shares one. */
    m = list_alloc(h, ALIGN_UP(sizeof(*m) + cap * sizeof(void *), 64), 64, 0);
    if (!m)
        return NULL;
    *m = (struct mag){.cap = cap, .size = heap_class_size[cls], .cls = cls};
    h->nmags++;
    return m;
}

void mag_destroy_list(struct heap *h, struct mag *m)
{
    for (struct mag *next; m; m = next) {
        next = m->next;
        list_free(h, m);
        h->nmags--;
    }
}

/* Under the heap lock: a magazine to its spans, then away. */
static bool mag_flush_destroy(struct heap *h, struct mag *m)
{
    bool grew = mag_flush(h, m);
    m->next = NULL;
    mag_destroy_list(h, m);
    return grew;
}

bool mag_flush(struct heap *h, struct mag *m)
{
    bool grew = false;
    for (uint32_t i = 0; i < m->rounds; i++) {
        void *p = m->obj[i];
        grew |= span_free(h, chunk_of(h, p), p);
    }
    MAG_ST(m->rounds, 0);
    return grew;
}

/* Under the heap lock: fill this CPU's empty loaded magazine from the spans
 * (a new one if it has none, or one predating a capacity growth) and take a
 * block, or NULL when out of memory. */
static void *mag_refill(struct heap *h, struct heap_front *f, unsigned cls)
{
    struct mag *m = f->loaded[cls], *e;
    void *p = NULL;
    if (m->cap < MAG_LD(h->depot[cls].grow.cap) && (e = heap_mag_new(h, cls)) != NULL) {
        MAG_ST(f->loaded[cls], e);
        if (m->cap)
            mag_flush_destroy(h, m); /* empty: only freed */
        m = e;
    }
    uint32_t n = 0;
    if (!m->cap) { /* no memory for a magazine: one block */
        p = span_alloc(h, cls);
    } else {
        void *q;
        while (n < m->cap && (q = span_alloc(h, cls)) != NULL)
            MAG_ST(m->obj[n++], q);
        MAG_ST(m->rounds, n);
    }
    if (p || n) { /* the footprint may have grown: note the peak */
        if (!p) {
            p = m->obj[n - 1];
            MAG_ST(m->rounds, n - 1);
        }
        heap_note_peak(h);
    }
    return p;
}

void *mag_alloc_slow(struct heap *h, struct heap_front *f, unsigned cls)
{
    struct mag *m = f->loaded[cls], *pm = f->prev[cls];
    if (pm->rounds) { /* the previous magazine has blocks: swap */
        MAG_ST(f->loaded[cls], pm);
        MAG_ST(f->prev[cls], m);
        m = pm;
    } else if (depot_load_full(h, f, cls)) { /* a full one for the empty previous one */
        m = f->loaded[cls];
    } else { /* fill from the spans */
        depot_heap_lock(h, &h->depot[cls]);
        void *p = mag_refill(h, f, cls);
        spin_unlock(&h->lock);
        return p;
    }
    uint32_t n = m->rounds; /* a magazine from the depot or the swap: never empty */
    void *p = m->obj[n - 1];
    MAG_ST(m->rounds, n - 1);
    return p;
}

/* Under the heap lock: the full previous magazine pm to the depot, or (the
 * depot wants no more) to its spans with one of the depot's; true if idle
 * memory grew. */
static bool mag_put_full(struct heap *h, struct mag_depot *d, struct mag *pm)
{
    struct mag *x = NULL, *retired = NULL;
    /* The flushes run under the heap lock alone (span_free may release a
     * span): the double-free check holds it, so it sees pm and x before or
     * after. pm is flushed first when the depot, read without its lock,
     * looks full enough, so that one depot trip does. */
    bool grew = false;
    if (MAG_LD(d->nfull) >= MAG_LD(d->want))
        grew = mag_flush(h, pm);
    depot_lock(d);
    /* Only a full one: want was read without the lock, and may have grown
     * since, so pm may still have room here; the depot's full list must
     * hold full magazines (mag_alloc_slow pops them). */
    bool keep = pm->rounds && pm->rounds == pm->cap && d->nfull < MAG_LD(d->want);
    if (keep) {
        pm->next = d->full;
        d->full = pm;
        MAG_ST(d->nfull, d->nfull + 1);
    } else {
        /* Nobody took full ones lately: the wanted depth decays, and the
         * depot gives one back to the spans too, so a burst of frees ends
         * with its blocks in their spans. */
        if (MAG_LD(d->want))
            MAG_ST(d->want, MAG_LD(d->want) - 1);
        if (d->nfull > MAG_LD(d->want)) {
            x = d->full;
            d->full = x->next;
            MAG_ST(d->nfull, d->nfull - 1);
        }
        if (!pm->rounds) { /* flushed above */
            depot_put_empty(d, pm, &retired);
            pm = NULL;
        }
    }
    spin_unlock(&d->lock);
    if (keep)
        return false;
    if (pm || x) {
        if (pm)
            grew |= mag_flush(h, pm);
        if (x)
            grew |= mag_flush(h, x);
        depot_lock(d);
        if (pm)
            depot_put_empty(d, pm, &retired);
        if (x)
            depot_put_empty(d, x, &retired);
        spin_unlock(&d->lock);
    }
    mag_destroy_list(h, retired);
    return grew;
}

/* Under the heap lock: this CPU's magazines of every class but skip that
 * no allocation wants lately, to their spans; true if idle memory grew. */
static bool mag_flush_unwanted(struct heap *h, struct heap_front *f, unsigned skip)
{
    bool grew = false;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        if (c == skip || MAG_LD(h->depot[c].want))
            continue;
        struct mag *m = f->loaded[c], *pm = f->prev[c];
        if (m->rounds)
            grew |= mag_flush(h, m);
        if (pm->rounds)
            grew |= mag_flush(h, pm);
    }
    return grew;
}

void mag_free_slow(struct heap *h, struct heap_front *f, struct chunk *ch, void *p)
{
    unsigned cls = ch->cls;
    struct mag *m = f->loaded[cls], *pm = f->prev[cls];
    struct mag_depot *d = &h->depot[cls];
    bool wanted = MAG_LD(d->want) != 0;
    if (pm->rounds < pm->cap && wanted) { /* the previous one has room: swap */
        MAG_ST(f->loaded[cls], pm);
        MAG_ST(f->prev[cls], m);
        m = pm;
    } else if ((wanted || !m->cap) && depot_trade_full(h, f, cls)) {
        m = f->loaded[cls]; /* an empty one from the depot */
    } else {
        depot_heap_lock(h, d);
        bool grew = false;
        if (!MAG_LD(d->want) && m->cap) {
            /* Frees that nobody allocates from lately (a burst of frees):
             * straight back to the spans, a magazine at a time, so that at
             * most one partly filled magazine per class stays behind. */
            grew = mag_flush(h, m);
            if (pm->rounds)
                grew |= mag_flush(h, pm);
            /* The other classes' blocks of the burst too: each pins its span,
             * and once the burst ends no free reaches their slow paths. */
            grew |= mag_flush_unwanted(h, f, cls);
            MAG_ST(m->obj[0], p);
            MAG_ST(m->rounds, 1);
            if (grew)
                heap_release_check(h);
            spin_unlock(&h->lock);
            return;
        }
        /* No magazine (a release run drained this CPU) and none wanted: a
         * burst of frees goes straight to the spans, so that when it ends
         * no block of it waits in a magazine, pinning its span. */
        struct mag *e = MAG_LD(d->want) || m->cap ? heap_mag_new(h, cls) : NULL;
        if (!e) { /* no memory for a magazine, or none wanted: straight to the span */
            if (span_free(h, ch, p))
                heap_release_check(h);
            spin_unlock(&h->lock);
            return;
        }
        /* The front first: once pm is in the depot another CPU may load it. */
        MAG_ST(f->prev[cls], m);
        MAG_ST(f->loaded[cls], e);
        MAG_ST(e->obj[0], p);
        MAG_ST(e->rounds, 1);
        if (pm->cap)
            grew = mag_put_full(h, d, pm);
        if (grew) /* last: a run flushes this CPU's magazines too */
            heap_release_check(h);
        spin_unlock(&h->lock);
        return;
    }
    uint32_t n = m->rounds;
    MAG_ST(m->obj[n], p);
    MAG_ST(m->rounds, n + 1);
}

void mag_depot_drain(struct heap *h)
{
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        struct mag_depot *d = &h->depot[c];
        depot_lock(d);
        struct mag *full = d->full, *empty = d->empty;
        d->full = d->empty = NULL; /* `want` stays: kfree reads it without the lock */
        MAG_ST(d->nfull, 0);
        MAG_ST(d->nempty, 0);
        spin_unlock(&d->lock);
        /* Out of the depot under the heap lock: mag_holds cannot miss them. */
        for (struct mag *m = full, *next; m; m = next) {
            next = m->next;
            mag_flush_destroy(h, m);
        }
        mag_destroy_list(h, empty);
    }
}

/* CPU i's two magazines of class cls, read so that a concurrent swap by
 * their owner is not half seen (the loaded pointer is read before and
 * after the previous one). Under the heap lock and the class's depot lock:
 * they cannot go elsewhere. */
static void cpu_mags(unsigned i, unsigned cls, const struct mag **a, const struct mag **b)
{
    const struct heap_front *f = &heap_fronts[i];
    for (int t = 0; t < 64; t++) {
        *a = MAG_LD(f->loaded[cls]);
        *b = MAG_LD(f->prev[cls]);
        if (MAG_LD(f->loaded[cls]) == *a)
            break;
    }
    if (!*a || !*b) /* before the first kheap_init */
        *a = *b = &heap_mag_none;
}

static bool mag_has(const struct mag *m, const void *p)
{
    uint32_t n = MIN(MAG_LD(m->rounds), m->cap);
    for (uint32_t i = 0; i < n; i++)
        if (MAG_LD(m->obj[i]) == p)
            return true;
    return false;
}

bool mag_holds(struct heap *h, unsigned cls, const void *p)
{
    struct mag_depot *d = &h->depot[cls];
    bool found = false;
    depot_lock(d);
    for (unsigned i = 0; !found && i < SMP_MAX_CPUS; i++) {
        const struct mag *a, *b;
        cpu_mags(i, cls, &a, &b);
        found = mag_has(a, p) || mag_has(b, p);
    }
    for (const struct mag *m = d->full; !found && m; m = m->next)
        found = mag_has(m, p);
    spin_unlock(&d->lock);
    return found;
}

size_t mag_cached(struct heap *h, unsigned cls)
{
    size_t n = 0;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        const struct mag *a, *b;
        cpu_mags(i, cls, &a, &b);
        n += MIN(MAG_LD(a->rounds), a->cap) + MIN(MAG_LD(b->rounds), b->cap);
    }
    if (!h->src) /* before kheap_init: no depot (nor its lock) yet */
        return n;
    struct mag_depot *d = &h->depot[cls];
    depot_lock(d);
    for (const struct mag *m = d->full; m; m = m->next)
        n += m->rounds;
    spin_unlock(&d->lock);
    return n;
}

void kheap_mag_drain(void)
{
    struct heap *h = &kheap;
    slab_mag_drain(); /* first: a slab magazine goes back through kfree */
    if (!h->src)
        return;
    spin_lock(&h->lock);
    bool was = h->releasing;
    h->releasing = true;
    mag_cpu_drain(h);
    mag_depot_drain(h);
    big_drain(h);
    h->releasing = was;
    heap_release_check(h);
    spin_unlock(&h->lock);
}

void mag_cpu_drain(struct heap *h)
{
    struct heap_front *f = heap_front(h);
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        struct mag *m[2] = {f->loaded[c], f->prev[c]};
        MAG_ST(f->loaded[c], &heap_mag_none);
        MAG_ST(f->prev[c], &heap_mag_none);
        for (int i = 0; i < 2; i++)
            if (m[i]->cap)
                mag_flush_destroy(h, m[i]);
    }
}

volatile bool kheap_idle_drain = true;
static volatile unsigned idle_draining; /* CPUs inside an idle drain now */

void kheap_idle_pause(void)
{
    kheap_idle_drain = false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    /* A drain may wait for this CPU's answer to its TLB shootdown: answer
     * as a lock waiter does (this CPU may have interrupts off). */
    while (__atomic_load_n(&idle_draining, __ATOMIC_ACQUIRE))
        if (spin_wait_hook)
            spin_wait_hook();
}

void kheap_idle_resume(void)
{
    kheap_idle_drain = true;
}

/* Ticks of each CPU's last idle drain. Written by its owner only. */
static uint64_t idle_drained[SMP_MAX_CPUS];

void kheap_cpu_idle(uint64_t now)
{
    struct heap *h = &kheap;
    unsigned me = this_cpu()->index;
    if (!h->src || me >= SMP_MAX_CPUS || now - idle_drained[me] < KHEAP_IDLE_DRAIN_TICKS)
        return;
    idle_drained[me] = now;
    /* Only this CPU swaps its own magazines: no lock to look. */
    const struct heap_front *f = heap_front(h);
    bool held = slab_mag_count(me) > 0 || f->big.n;
    for (unsigned c = 0; !held && c < KHEAP_NCLASSES; c++)
        held = f->loaded[c]->rounds || f->prev[c]->rounds;
    if (!held)
        return;
    /* Announce the drain, then look at the flag again: kheap_idle_pause
     * clears it and waits for the announced ones, so no drain runs past
     * a pause. */
    __atomic_add_fetch(&idle_draining, 1, __ATOMIC_SEQ_CST);
    if (kheap_idle_drain)
        kheap_mag_drain();
    __atomic_sub_fetch(&idle_draining, 1, __ATOMIC_RELEASE);
}

size_t kheap_mag_count(unsigned cpu)
{
    struct heap *h = &kheap;
    if (cpu >= SMP_MAX_CPUS)
        return 0;
    size_t n = slab_mag_count(cpu);
    spin_lock(&h->lock);
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        const struct mag *a, *b;
        cpu_mags(cpu, c, &a, &b);
        n += MIN(MAG_LD(a->rounds), a->cap) + MIN(MAG_LD(b->rounds), b->cap);
    }
    spin_unlock(&h->lock);
    return n;
}

void heap_sample_arm(unsigned cpu, uint64_t countdown)
{
    __atomic_store_n(&heap_fronts[cpu].sample_countdown, countdown, __ATOMIC_RELAXED);
}
