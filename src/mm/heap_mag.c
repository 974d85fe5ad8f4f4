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
 * take the heap lock and exchange with the depot, which holds full and
 * empty magazines per class: kmalloc gives back its empty previous
 * magazine and loads a full one; kfree gives back its full previous one and
 * loads an empty one. With no full magazine in the depot, kmalloc fills the
 * loaded one from the spans (span_alloc, a whole magazine per lock trip);
 * kfree makes a new empty magazine (a list block) when the depot has none.
 * The depot keeps full magazines only as deep as allocations have lately
 * wanted them (`want`, up by one when a refill found none, to at most
 * DEPOT_FULL_MAX, down by one on each flush): past that, the full magazine
 * is flushed to its spans instead, with one of the depot's, so that a burst
 * of frees that no CPU allocates from ends with its blocks in their spans,
 * where the release policy sees them, while a producer/consumer pair of
 * CPUs keeps trading whole magazines.
 *
 * Sizes: a magazine holds about 4 KiB of blocks, between 64 rounds (up to
 * 64-byte classes) and 2 (above 2 KiB): fixed per size band, so a CPU
 * caches at most ~8 KiB per class plus the depot's share. Bonwick grows
 * magazines with lock contention; fixed bands were chosen by measurement:
 * 8 KiB magazines and a fixed depot of 4 left 10 MiB held after a 105 MiB
 * burst of frees (4 KiB and the adaptive depot: 4 MiB), for no gain on the
 * single-thread pairs, where no magazine ever leaves its CPU.
 *
 * What sits in a magazine is free: at level 0 it keeps its span's free key
 * in its second word (so a second kfree of it finds the key), when
 * hardening it has the FREE check word and its poison, exactly as on a
 * span's free list; the span counts it as in use. The double-free
 * confirmation (kmalloc.c, under the heap lock) looks for the block on its
 * span's free list, in every CPU's two magazines and in the depot: another
 * CPU's magazines cannot leave it while the lock is held (exchanges take
 * the lock), and a concurrent swap is caught by reading the loaded pointer
 * before and after the previous one. Only a block that its owner pops at
 * the very moment of a racing second free can be missed: that free is then
 * a use-after-free of a live block, which no check sees.
 *
 * Statistics: blocks in magazines are free-but-cached: kheap_stats reports
 * them per class (`cached`) and takes them out of the spans' in-use
 * counts. The release policy drains the depot first (heap_release_run);
 * kheap_mag_drain flushes the calling CPU's magazines too (kheap_trim calls
 * it; the kernel asks every CPU with smp_call_all; a host thread's are
 * drained when it ends).
 *
 * Lock order: the heap lock only (LOCK_LEVEL_HEAP); the slab caches' own
 * magazines (slab.c) are drained before it is taken.
 */
#include <pagoda/slab.h>

#include "heap_internal.h"

#define DEPOT_FULL_MAX 4  /* full magazines the depot may keep per class */
#define DEPOT_EMPTY_MAX 4 /* empty ones */
#define MAG_BYTES KiB(4)  /* blocks' bytes per magazine, within [2, 64] rounds */

struct heap_front heap_fronts[SMP_MAX_CPUS];
struct mag heap_mag_none; /* cap 0 */

#ifndef PAGODA_KERNEL
__thread unsigned heap_tls_cpu __attribute__((tls_model("initial-exec")));

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
    return i;
}
#endif

static uint32_t mag_cap(uint32_t size)
{
    uint32_t n = (uint32_t)(MAG_BYTES / size);
    return n < 2 ? 2 : n > 64 ? 64 : n;
}

void mag_init(void)
{
    memset(heap_fronts, 0, sizeof(heap_fronts));
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
            heap_fronts[i].loaded[c] = heap_fronts[i].prev[c] = &heap_mag_none;
}

/* An empty magazine for class cls: the depot's, or a new list block. */
static struct mag *mag_new(struct heap *h, unsigned cls)
{
    struct mag_depot *d = &h->depot[cls];
    struct mag *m = d->empty;
    if (m) {
        d->empty = m->next;
        d->nempty--;
        return m;
    }
    uint32_t cap = mag_cap(heap_class_size[cls]);
    m = list_alloc(h, sizeof(*m) + cap * sizeof(void *), 16, 0);
    if (!m)
        return NULL;
    *m = (struct mag){.cap = cap, .size = heap_class_size[cls], .cls = cls};
    h->nmags++;
    return m;
}

static void mag_destroy(struct heap *h, struct mag *m)
{
    list_free(h, m);
    h->nmags--;
}

static void depot_put_empty(struct heap *h, struct mag_depot *d, struct mag *m)
{
    if (d->nempty >= DEPOT_EMPTY_MAX) {
        mag_destroy(h, m);
        return;
    }
    m->next = d->empty;
    d->empty = m;
    d->nempty++;
}

/* Every block of m back to its span; true if idle memory grew. */
static bool mag_flush(struct heap *h, struct mag *m)
{
    bool grew = false;
    for (uint32_t i = 0; i < m->rounds; i++) {
        void *p = m->obj[i];
        grew |= span_free(h, chunk_of(h, p), p);
    }
    MAG_ST(m->rounds, 0);
    return grew;
}

void *mag_alloc_slow(struct heap *h, struct heap_front *f, unsigned cls)
{
    struct mag *m = f->loaded[cls], *pm = f->prev[cls];
    void *p = NULL;
    if (pm->rounds) { /* the previous magazine has blocks: swap */
        MAG_ST(f->loaded[cls], pm);
        MAG_ST(f->prev[cls], m);
        m = pm;
    } else {
        spin_lock(&h->lock);
        struct mag_depot *d = &h->depot[cls];
        struct mag *full = d->full;
        if (full) { /* give the depot the empty previous one, load a full one */
            d->full = full->next;
            d->nfull--;
            if (pm->cap)
                depot_put_empty(h, d, pm);
            MAG_ST(f->prev[cls], m);
            MAG_ST(f->loaded[cls], full);
            m = full;
        } else { /* fill from the spans; a full magazine would have served */
            if (d->want < DEPOT_FULL_MAX)
                MAG_ST(d->want, d->want + 1);
            if (!m->cap && (full = mag_new(h, cls)) != NULL) {
                MAG_ST(f->loaded[cls], full);
                m = full;
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
                MAG_ST(f->small_live, f->small_live + heap_class_size[cls]);
                if (!p) {
                    p = m->obj[n - 1];
                    MAG_ST(m->rounds, n - 1);
                }
                heap_note_peak(h);
            }
            spin_unlock(&h->lock);
            return p;
        }
        spin_unlock(&h->lock);
    }
    uint32_t n = m->rounds; /* a magazine from the depot or the swap: never empty */
    p = m->obj[n - 1];
    MAG_ST(m->rounds, n - 1);
    MAG_ST(f->small_live, f->small_live + m->size);
    return p;
}

void mag_free_slow(struct heap *h, struct heap_front *f, struct chunk *ch, void *p)
{
    unsigned cls = ch->cls;
    struct mag *m = f->loaded[cls], *pm = f->prev[cls];
    struct mag_depot *d = &h->depot[cls];
    if (pm->rounds < pm->cap && MAG_LD(d->want)) { /* the previous one has room: swap */
        MAG_ST(f->loaded[cls], pm);
        MAG_ST(f->prev[cls], m);
        m = pm;
    } else {
        spin_lock(&h->lock);
        bool grew = false;
        if (!d->want && m->cap) {
            /* Frees that nobody allocates from lately (a burst of frees):
             * straight back to the spans, a magazine at a time, so that at
             * most one partly filled magazine per class stays behind. */
            grew = mag_flush(h, m);
            if (pm->rounds)
                grew |= mag_flush(h, pm);
            MAG_ST(m->obj[0], p);
            MAG_ST(m->rounds, 1);
            MAG_ST(f->small_live, f->small_live - m->size);
            if (grew)
                heap_release_check(h);
            spin_unlock(&h->lock);
            return;
        }
        struct mag *e = mag_new(h, cls);
        if (!e) { /* no memory for a magazine: straight to the span */
            MAG_ST(f->small_live, f->small_live - heap_class_size[cls]);
            if (span_free(h, ch, p))
                heap_release_check(h);
            spin_unlock(&h->lock);
            return;
        }
        if (pm->cap) { /* the full previous one to the depot, or to its spans */
            /* Only a full one: want was read without the lock above, and may
             * have grown since, so pm may still have room here; the depot's
             * full list must hold full magazines (mag_alloc_slow pops them). */
            if (pm->rounds == pm->cap && d->nfull < d->want) {
                pm->next = d->full;
                d->full = pm;
                d->nfull++;
            } else {
                /* Nobody took full ones lately: the wanted depth decays, and
                 * the depot gives one back to the spans too, so a burst of
                 * frees ends with its blocks in their spans. */
                grew = mag_flush(h, pm);
                depot_put_empty(h, d, pm);
                if (d->want)
                    MAG_ST(d->want, d->want - 1);
                if (d->nfull > d->want) {
                    struct mag *x = d->full;
                    d->full = x->next;
                    d->nfull--;
                    grew |= mag_flush(h, x);
                    depot_put_empty(h, d, x);
                }
            }
        }
        MAG_ST(f->prev[cls], m);
        MAG_ST(f->loaded[cls], e);
        MAG_ST(e->obj[0], p);
        MAG_ST(e->rounds, 1);
        MAG_ST(f->small_live, f->small_live - e->size);
        if (grew) /* last: a run flushes this CPU's magazines too */
            heap_release_check(h);
        spin_unlock(&h->lock);
        return;
    }
    uint32_t n = m->rounds;
    MAG_ST(m->obj[n], p);
    MAG_ST(m->rounds, n + 1);
    MAG_ST(f->small_live, f->small_live - m->size);
}

void mag_depot_drain(struct heap *h)
{
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        struct mag_depot *d = &h->depot[c];
        for (struct mag *m = d->full, *next; m; m = next) {
            next = m->next;
            mag_flush(h, m);
            mag_destroy(h, m);
        }
        for (struct mag *m = d->empty, *next; m; m = next) {
            next = m->next;
            mag_destroy(h, m);
        }
        d->full = d->empty = NULL; /* `want` stays: kfree reads it without the lock */
        d->nfull = d->nempty = 0;
    }
}

/* CPU i's two magazines of class cls, read so that a concurrent swap by
 * their owner is not half seen (the loaded pointer is read before and
 * after the previous one). Under the heap lock: they cannot go elsewhere. */
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
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        const struct mag *a, *b;
        cpu_mags(i, cls, &a, &b);
        if (mag_has(a, p) || mag_has(b, p))
            return true;
    }
    for (const struct mag *m = h->depot[cls].full; m; m = m->next)
        if (mag_has(m, p))
            return true;
    return false;
}

size_t mag_cached(struct heap *h, unsigned cls)
{
    size_t n = 0;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        const struct mag *a, *b;
        cpu_mags(i, cls, &a, &b);
        n += MIN(MAG_LD(a->rounds), a->cap) + MIN(MAG_LD(b->rounds), b->cap);
    }
    for (const struct mag *m = h->depot[cls].full; m; m = m->next)
        n += m->rounds;
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
        for (int i = 0; i < 2; i++) {
            if (m[i]->cap) {
                mag_flush(h, m[i]);
                mag_destroy(h, m[i]);
            }
        }
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
    bool held = slab_mag_count(me) > 0;
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
