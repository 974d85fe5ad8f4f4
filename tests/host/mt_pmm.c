/* The PMM's per-CPU frame caches (src/mm/pmm_pcp.c) under ThreadSanitizer:
 * threads standing in for CPUs storm one core through their caches with
 * single-frame allocations and frees, runs taken from the core under the
 * lock (as pmm.c does), and frames handed to another thread to free. Each
 * frame has an owner byte the test keeps (atomic compare-and-swap on every
 * hand-out and free), so a frame handed to two threads at once is caught.
 * The core is small, so the caches run dry and drain each other. At the end
 * every count is back where it started. */
#include <pthread.h>
#include <stdlib.h>

#include <pagoda/errno.h>
#include <pagoda/pmm_pcp.h>

#include "harness.h"

#define NT 4
#define ITERS 30000
#define HOLD 160 /* more than a cache holds: drains and refills */
#define INBOX 64
#define BASE 0x100000ULL

static struct pmm_core core;
static struct pmm_pcp_pool pool;
static uint8_t *owner; /* per frame: 0 free, t + 1 held by thread t, 0xff in transit */
static volatile int errors;
static pthread_barrier_t done_bar;

static struct inbox {
    pthread_mutex_t m;
    unsigned n;
    paddr_t f[INBOX];
} inbox[NT];

static void bad(void) { __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED); }

/* Claim frames [pa, pa + n) for tag, or count an error. */
static void claim(paddr_t pa, unsigned n, uint8_t from, uint8_t to)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t want = from;
        if (!__atomic_compare_exchange_n(&owner[(pa >> 12) + i], &want, to, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            bad();
    }
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct held {
    paddr_t pa;
    unsigned n;
};

static void give_back(struct held *h, uint8_t tag)
{
    claim(h->pa, h->n, tag, 0);
    int err;
    if (h->n == 1) {
        err = pmm_pcp_free(&pool, h->pa);
    } else {
        spin_lock(&pool.lock);
        err = pmm_pcp_any_cached(&pool, h->pa >> 12, h->n) ? -E_DOUBLE
                                                            : pmm_core_free(&core, h->pa, h->n);
        spin_unlock(&pool.lock);
    }
    if (err)
        bad();
}

static void empty_inbox(unsigned t)
{
    struct inbox *b = &inbox[t];
    pthread_mutex_lock(&b->m);
    while (b->n) {
        paddr_t pa = b->f[--b->n];
        claim(pa, 1, 0xff, 0);
        if (pmm_pcp_free(&pool, pa)) /* a frame another thread allocated */
            bad();
    }
    pthread_mutex_unlock(&b->m);
}

static void *worker(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    uint8_t tag = (uint8_t)(t + 1);
    uint64_t seed = 0x9e3779b97f4a7c15ULL * (t + 1);
    struct held h[HOLD];
    unsigned nh = 0;
    bool grow = true; /* phases: take up to HOLD frames, then give them all back */
    for (int it = 0; it < ITERS; it++) {
        uint64_t r = rnd(&seed);
        unsigned op = r % 16;
        if (grow && op < 13) { /* a single frame */
            paddr_t pa = pmm_pcp_alloc(&pool);
            if (pa) {
                claim(pa, 1, 0, tag);
                h[nh++] = (struct held){pa, 1};
            }
            grow = pa && nh < HOLD;
        } else if (grow && op == 13) { /* a run from the core */
            unsigned n = 2 + (unsigned)(r >> 8) % 6;
            spin_lock(&pool.lock);
            paddr_t pa = pmm_core_alloc(&core, n);
            spin_unlock(&pool.lock);
            if (pa) {
                claim(pa, n, 0, tag);
                h[nh++] = (struct held){pa, n};
            }
            grow = nh < HOLD;
        } else if (!grow && op < 12 && nh) { /* free one of ours */
            unsigned i = (unsigned)(r >> 16) % nh;
            give_back(&h[i], tag);
            h[i] = h[--nh];
        } else if (!grow && op < 14 && nh && h[nh - 1].n == 1) { /* to the next thread */
            struct inbox *b = &inbox[(t + 1) % NT];
            pthread_mutex_lock(&b->m);
            if (b->n < INBOX) {
                claim(h[nh - 1].pa, 1, tag, 0xff);
                b->f[b->n++] = h[--nh].pa;
            }
            pthread_mutex_unlock(&b->m);
        } else {
            empty_inbox(t); /* frees of frames others allocated */
        }
        if (!grow && nh == 0)
            grow = true;
    }
    /* A thread that waits here polls nothing: give its cache back first, so
     * that the others' allocations need not wait for it. */
    pmm_pcp_drain(&pool);
    pthread_barrier_wait(&done_bar); /* nobody sends any more */
    empty_inbox(t);
    while (nh)
        give_back(&h[--nh], tag);
    return NULL; /* the exit hook drains this thread's cache */
}

HTEST(mt_pmm_storm_every_frame_one_owner)
{
    struct stivale2_mmap_entry m[1] = {{BASE, MiB(2), STIVALE2_MMAP_USABLE, 0}};
    size_t bytes = pmm_core_bitmap_bytes(m, 1);
    void *mem = malloc(bytes);
    CHECK_EQ(pmm_core_init(&core, m, 1, mem, 0, bytes), 0);
    void *cached = malloc(pmm_pcp_cached_bytes(core.nframes));
    pmm_pcp_init(&pool, &core, cached);
    owner = calloc(core.nframes, 1);
    uint64_t start = core.free_frames;
    for (int i = 0; i < NT; i++)
        pthread_mutex_init(&inbox[i].m, NULL);
    pthread_barrier_init(&done_bar, NULL, NT);
    pthread_t th[NT];
    for (uintptr_t i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&done_bar);
    CHECK_EQ(errors, 0);
    CHECK_EQ(pmm_pcp_total(&pool), 0);
    CHECK_EQ(core.free_frames, start);
    CHECK_EQ(pmm_core_check(&core), 0);
    CHECK(!pmm_pcp_any_cached(&pool, 0, core.nframes));
    uint64_t refills = 0, drains = 0;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        refills += pool.cpu[i].refills;
        drains += pool.cpu[i].drains;
    }
    CHECK(refills > NT && drains > NT); /* the batches really moved */
    for (uint64_t f = 0; f < core.nframes; f++)
        CHECK_EQ(owner[f], 0);
    printf("mt_pmm: %d threads x %d operations, %llu refills, %llu drains\n", NT, ITERS,
           (unsigned long long)refills, (unsigned long long)drains);
    pmm_pcp_fini(&pool);
    free(owner);
    free(cached);
    free(mem);
}
