/*
 * The heap's magazine depots: one per size class, each under its own lock,
 * and the magazines' capacity, which grows with contention (Bonwick &
 * Adams, "Magazines and Vmem", USENIX 2001, section 3.6).
 *
 * Theory of operation
 * -------------------
 * A depot holds a class's full and empty magazines (heap_mag.c says when
 * CPUs trade with it). Trading one whole magazine for another moves no
 * block between a magazine and a span, so it needs only the class's depot
 * lock (LOCK_LEVEL_HEAP_DEPOT): two CPUs trading in different classes take
 * different locks on different cache lines, and none takes the heap lock.
 * Everything that moves blocks between magazines and spans (a refill, a
 * flush, the release policy's drain) holds the heap lock and takes a
 * depot lock inside it, only to link or unlink magazines: a depot lock
 * holder takes no other lock and calls nothing that could (no list_alloc,
 * whose release run drains the depots; no span_free, which may give a span
 * back). So the double-free confirmation (mag_holds), holding the heap lock
 * and then the class's depot lock, sees every magazine of the class either
 * in a CPU's front or in the depot: each move from one to the other
 * happens under that depot lock, with the CPU's front pointers stored
 * before it is dropped.
 *
 * A CPU reads the depot's counts (nfull, nempty, want: relaxed atomics,
 * written under the lock or, for want, a heuristic, by anyone) before it
 * locks: a depot with nothing to give costs no lock trip, so one CPU, whose
 * depot is usually empty, pays no more than one lock per slow path. A
 * racing put that the look misses only sends that CPU to the spans.
 *
 * Capacity. A magazine starts at about MAG_BYTES of blocks (between 4 and
 * 512 rounds: a 16-byte class's magazine holds 8 KiB of blocks, so a batch
 * of 1,600 small allocations and frees trades about four magazines with
 * the depot instead of going to the spans, which cost 12 ns a block there
 * against 7.5 with 512 rounds; 128 rounds held 2 KiB); on one CPU that is all it ever gets, so single-CPU memory
 * held in magazines stays what it was. Every depot lock or heap lock
 * acquisition for the class that has to wait (a failed trylock: another
 * CPU holds it) counts as contention; MAG_GROW_AT of them within
 * MAG_GROW_WINDOW exchanges double the class's capacity, up to
 * MAG_GROWN_BYTES of blocks (at most MAG_ROUNDS_MAX rounds, never below the
 * starting capacity). Only new magazines get the new capacity: an older,
 * smaller one keeps serving until it comes back to the depot empty, where
 * it is retired (freed under the heap lock once the depot lock is
 * dropped). Bigger magazines mean fewer exchanges per block: a CPU
 * alternating at random between allocating and freeing a class walks its
 * magazine's fill level at random, and reaches an edge about
 * capacity-squared times less often.
 *
 * Cost: an exchange is one lock round trip on the class's line and a few
 * stores; a retirement adds a heap lock trip. Weakness: capacity never
 * shrinks (Bonwick's does not either); the release policy and the idle
 * drain still give back what the magazines hold, so a grown class costs
 * at most the bigger magazines' blocks per CPU while it is in use.
 */
#include "heap_internal.h"

/* Full magazines the depot may keep per class, when refills lately wanted
 * them (`want`): 4, about 128 KiB of blocks, so that a batch of 1,600
 * blocks of 64 B, allocated and freed again and again, stays in magazines
 * (2,048 with 512 rounds; with 16 KiB magazines, 4 held 1,536 with the
 * CPU's two: its frees went to the spans, 9-11 ns a block against 7-10
 * with 8). With 8 of 32 KiB the depots kept so much after a burst of 10 MB
 * of frees (up to 10 MiB over the classes) that a 32 MiB kernel's heap held
 * more than 3 MiB above its start; the mix gained 4% from them. */
#define DEPOT_FULL_MAX 4
#define DEPOT_EMPTY_MAX 4 /* empty ones */
#define MAG_BYTES KiB(32) /* blocks' bytes per magazine to start with, within the bounds below */
#define MAG_ROUNDS_START_MAX 512
/* The fewest rounds: 8 up to 64 KiB, where a random mix of sizes trades
 * the big classes' magazines most often (4 rounds: 18.1-20.3 ns a step of
 * the bench's wide mix, 8: 17.5-18.0, with peak RSS over live 1.31 and
 * 1.30); 4 above, so that one magazine of 256 KiB blocks holds 1 MiB. */
#define MAG_ROUNDS_MIN(size) ((size) <= KiB(64) ? 8u : 4u)
#define MAG_GROWN_BYTES KiB(64) /* what contention may grow a magazine to */
#define MAG_ROUNDS_MAX 1024
#define MAG_GROW_AT 4        /* lock waits within a window that grow the capacity */
#define MAG_GROW_WINDOW 1024 /* exchanges per window */

static uint32_t mag_start_cap(uint32_t size)
{
    uint32_t n = (uint32_t)(MAG_BYTES / size);
    return MAX(MAG_ROUNDS_MIN(size), MIN(n, (uint32_t)MAG_ROUNDS_START_MAX));
}

void depot_init(struct heap *h)
{
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        struct mag_depot *d = &h->depot[c];
        uint32_t size = heap_class_size[c], max = (uint32_t)(MAG_GROWN_BYTES / size);
        *d = (struct mag_depot){.grow.cap = mag_start_cap(size)};
        d->grow.cap_max = MAX(d->grow.cap, MIN(max, (uint32_t)MAG_ROUNDS_MAX));
        spin_init(&d->lock, "heap depot", LOCK_LEVEL_HEAP_DEPOT);
    }
}

void mag_grow_lock(spinlock_t *l, struct mag_grow *g)
{
    if (spin_trylock(l))
        return;
    __atomic_add_fetch(&g->contended, 1, __ATOMIC_RELAXED);
    spin_lock(l);
}

void depot_lock(struct mag_depot *d) { mag_grow_lock(&d->lock, &d->grow); }

void depot_heap_lock(struct heap *h, struct mag_depot *d) { mag_grow_lock(&h->lock, &d->grow); }

void mag_grow_adapt(struct mag_grow *g)
{
    if (MAG_LD(g->contended) >= MAG_GROW_AT) {
        if (g->cap < g->cap_max) {
            MAG_ST(g->cap, MIN(2 * g->cap, g->cap_max)); /* new magazines read it unlocked */
            MAG_ST(g->grown, g->grown + 1); /* the statistics read it */
        }
    } else if (++g->window < MAG_GROW_WINDOW) {
        return;
    }
    MAG_ST(g->contended, 0); /* a new window (a racing count may be lost: harmless) */
    g->window = 0;
}

void depot_put_empty(struct mag_depot *d, struct mag *m, struct mag **retired)
{
    if (d->nempty >= DEPOT_EMPTY_MAX || m->cap < d->grow.cap) {
        m->next = *retired;
        *retired = m;
        return;
    }
    m->next = d->empty;
    d->empty = m;
    MAG_ST(d->nempty, d->nempty + 1);
}

struct mag *depot_get_empty(struct mag_depot *d, struct mag **retired)
{
    struct mag *m;
    while ((m = d->empty) != NULL) {
        d->empty = m->next;
        MAG_ST(d->nempty, d->nempty - 1);
        if (m->cap >= d->grow.cap)
            return m;
        m->next = *retired;
        *retired = m;
    }
    return NULL;
}

/* Free retired magazines: they hold no block, so the heap lock is taken
 * only for the list allocator. */
static void retire(struct heap *h, struct mag *retired)
{
    if (!retired)
        return;
    spin_lock(&h->lock);
    mag_destroy_list(h, retired);
    spin_unlock(&h->lock);
}

bool depot_load_full(struct heap *h, struct heap_front *f, unsigned cls)
{
    struct mag_depot *d = &h->depot[cls];
    struct mag *m = f->loaded[cls], *pm = f->prev[cls], *retired = NULL;
    if (!MAG_LD(d->nfull)) { /* none (a racing put is missed: the spans serve) */
        if (MAG_LD(d->want) < DEPOT_FULL_MAX) /* a full magazine would have served */
            MAG_ST(d->want, MAG_LD(d->want) + 1);
        return false;
    }
    depot_lock(d);
    struct mag *full = d->full;
    if (full) {
        d->full = full->next;
        MAG_ST(d->nfull, d->nfull - 1);
        if (pm->cap)
            depot_put_empty(d, pm, &retired);
        MAG_ST(f->prev[cls], m);
        MAG_ST(f->loaded[cls], full);
        mag_grow_adapt(&d->grow);
    } else if (MAG_LD(d->want) < DEPOT_FULL_MAX) {
        MAG_ST(d->want, MAG_LD(d->want) + 1);
    }
    spin_unlock(&d->lock);
    retire(h, retired);
    return full != NULL;
}

bool depot_trade_full(struct heap *h, struct heap_front *f, unsigned cls)
{
    struct mag_depot *d = &h->depot[cls];
    struct mag *m = f->loaded[cls], *pm = f->prev[cls], *retired = NULL, *e = NULL;
    if (!MAG_LD(d->nempty)) /* the heap lock's path makes one */
        return false;
    depot_lock(d);
    /* Only a full one goes to the full list (mag_alloc_slow pops them):
     * want was read without the lock, and pm may have room. */
    if (!pm->cap || (pm->rounds == pm->cap && d->nfull < MAG_LD(d->want))) {
        e = depot_get_empty(d, &retired);
        if (e) {
            if (pm->cap) {
                pm->next = d->full;
                d->full = pm;
                MAG_ST(d->nfull, d->nfull + 1);
            }
            MAG_ST(f->prev[cls], m);
            MAG_ST(f->loaded[cls], e);
            mag_grow_adapt(&d->grow);
        }
    }
    spin_unlock(&d->lock);
    retire(h, retired);
    return e != NULL;
}
