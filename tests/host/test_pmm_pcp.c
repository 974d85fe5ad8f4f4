/*
 * Host tests of the per-CPU frame caches (src/mm/pmm_pcp.c) over a fake
 * 64 MiB core: refill and drain batches, the watermarks' hysteresis, double
 * frees of cached frames (from this thread and another), exact statistics,
 * remote drains when the core runs dry, and the thread-exit drain.
 */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>

#include <pagoda/errno.h>
#include <pagoda/pmm_pcp.h>

#define BASE 0x100000ULL
#define SIZE MiB(64)

struct fix {
    struct pmm_core c;
    struct pmm_pcp_pool p;
    void *mem, *cached;
};

static struct fix *fix_new(uint64_t size)
{
    struct fix *f = calloc(1, sizeof(*f));
    struct stivale2_mmap_entry m[1] = {{BASE, size, STIVALE2_MMAP_USABLE, 0}};
    size_t bytes = pmm_core_bitmap_bytes(m, 1);
    f->mem = malloc(bytes);
    if (pmm_core_init(&f->c, m, 1, f->mem, 0, bytes) != 0)
        return NULL;
    f->cached = malloc(pmm_pcp_cached_bytes(f->c.nframes));
    pmm_pcp_init(&f->p, &f->c, f->cached);
    return f;
}

static void fix_free(struct fix *f)
{
    pmm_pcp_fini(&f->p);
    free(f->cached);
    free(f->mem);
    free(f);
}

static struct pmm_pcp *me(struct fix *f) { return &f->p.cpu[this_cpu()->index]; }
static uint64_t all_free(struct fix *f) { return f->c.free_frames + pmm_pcp_total(&f->p); }

HTEST(pcp_refill_takes_a_batch_lowest_first)
{
    struct fix *f = fix_new(SIZE);
    CHECK(f != NULL);
    uint64_t start = f->c.free_frames;
    CHECK_EQ(pmm_pcp_total(&f->p), 0);
    paddr_t a = pmm_pcp_alloc(&f->p);
    CHECK_EQ(a, BASE);
    CHECK_EQ(f->c.free_frames, start - PMM_PCP_BATCH);
    CHECK_EQ(me(f)->count, PMM_PCP_BATCH - 1);
    CHECK_EQ(me(f)->refills, 1);
    CHECK(!pmm_pcp_is_cached(&f->p, a));
    CHECK(pmm_pcp_is_cached(&f->p, a + PAGE_SIZE));
    for (int i = 1; i < PMM_PCP_BATCH; i++) /* the rest of the batch, in order */
        CHECK_EQ(pmm_pcp_alloc(&f->p), BASE + (paddr_t)i * PAGE_SIZE);
    CHECK_EQ(me(f)->count, 0);
    CHECK_EQ(me(f)->refills, 1); /* no lock taken for those */
    CHECK_EQ(all_free(f), start - PMM_PCP_BATCH);
    CHECK(pmm_pcp_alloc(&f->p) != 0);
    CHECK_EQ(me(f)->refills, 2);
    fix_free(f);
}

HTEST(pcp_drain_at_high_watermark_and_stats_exact)
{
    struct fix *f = fix_new(SIZE);
    CHECK(f != NULL);
    uint64_t start = all_free(f);
    enum { N = 3 * PMM_PCP_HIGH };
    static paddr_t got[N];
    for (int i = 0; i < N; i++) {
        got[i] = pmm_pcp_alloc(&f->p);
        CHECK(got[i] != 0);
        CHECK_EQ(all_free(f), start - (uint64_t)i - 1);
    }
    uint64_t drains = me(f)->drains;
    for (int i = 0; i < N; i++) {
        CHECK_EQ(pmm_pcp_free(&f->p, got[i]), 0);
        CHECK(me(f)->count <= PMM_PCP_HIGH);
        CHECK_EQ(all_free(f), start - N + (uint64_t)i + 1);
        CHECK_EQ(pmm_core_check(&f->c), 0);
    }
    /* Filling from the refill's leftovers up: a batch at each overflow. */
    CHECK(me(f)->drains > drains);
    CHECK(me(f)->count > PMM_PCP_HIGH - PMM_PCP_BATCH);
    CHECK_EQ(all_free(f), start);
    pmm_pcp_drain(&f->p);
    CHECK_EQ(pmm_pcp_total(&f->p), 0);
    CHECK_EQ(f->c.free_frames, start);
    CHECK(!pmm_pcp_any_cached(&f->p, 0, f->c.nframes));
    fix_free(f);
}

HTEST(pcp_watermarks_have_hysteresis)
{
    struct fix *f = fix_new(SIZE);
    CHECK(f != NULL);
    /* Full edge: fill the cache to HIGH, then alternate free/alloc. */
    static paddr_t got[PMM_PCP_HIGH + 1];
    for (int i = 0; i <= PMM_PCP_HIGH; i++)
        got[i] = pmm_pcp_alloc(&f->p);
    pmm_pcp_drain(&f->p);
    for (int i = 0; i < PMM_PCP_HIGH; i++)
        CHECK_EQ(pmm_pcp_free(&f->p, got[i]), 0);
    CHECK_EQ(me(f)->count, PMM_PCP_HIGH);
    uint64_t d0 = me(f)->drains, r0 = me(f)->refills;
    paddr_t x = got[PMM_PCP_HIGH];
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(pmm_pcp_free(&f->p, x), 0);
        x = pmm_pcp_alloc(&f->p);
    }
    CHECK_EQ(me(f)->drains - d0, 1); /* one batch out, then never again */
    CHECK_EQ(me(f)->refills, r0);
    /* Empty edge: alternate alloc/free from an empty cache. */
    pmm_pcp_drain(&f->p);
    pmm_pcp_free(&f->p, x);
    pmm_pcp_drain(&f->p);
    r0 = me(f)->refills;
    for (int i = 0; i < 1000; i++) {
        paddr_t y = pmm_pcp_alloc(&f->p);
        CHECK(y != 0);
        CHECK_EQ(pmm_pcp_free(&f->p, y), 0);
    }
    CHECK_EQ(me(f)->refills - r0, 1);
    fix_free(f);
}

static struct fix *shared;
static paddr_t other_frame;
static int other_err;

static void *free_elsewhere(void *arg)
{
    other_err = pmm_pcp_free(&shared->p, other_frame);
    return NULL;
}

HTEST(pcp_double_free_of_cached_frame_is_caught)
{
    struct fix *f = fix_new(SIZE);
    CHECK(f != NULL);
    paddr_t a = pmm_pcp_alloc(&f->p);
    uint64_t start = all_free(f);
    CHECK_EQ(pmm_pcp_free(&f->p, a), 0);
    CHECK(pmm_pcp_is_cached(&f->p, a));
    uint32_t count = me(f)->count;
    CHECK_EQ(pmm_pcp_free(&f->p, a), -E_DOUBLE); /* in my cache */
    CHECK_EQ(me(f)->count, count);
    /* The same double free from another thread (another CPU's cache). */
    shared = f;
    other_frame = a;
    pthread_t t;
    pthread_create(&t, NULL, free_elsewhere, NULL);
    pthread_join(t, NULL);
    CHECK_EQ(other_err, -E_DOUBLE);
    CHECK_EQ(all_free(f), start + 1);
    /* A frame free in the core, and the core's other refusals. */
    pmm_pcp_drain(&f->p);
    CHECK(!pmm_pcp_is_cached(&f->p, a));
    CHECK(pmm_core_is_free(&f->c, a));
    CHECK_EQ(pmm_pcp_free(&f->p, a), -E_DOUBLE);
    CHECK_EQ(pmm_pcp_free(&f->p, a + 8), -E_ALIGN);
    CHECK_EQ(pmm_pcp_free(&f->p, BASE - PAGE_SIZE), -E_BADFREE);
    CHECK_EQ(pmm_pcp_free(&f->p, BASE + SIZE + PAGE_SIZE * 64), -E_RANGE);
    CHECK_EQ(all_free(f), start + 1);
    CHECK(!pmm_pcp_any_cached(&f->p, 0, f->c.nframes));
    /* A cached frame inside a run: the run check sees it. */
    paddr_t b = pmm_pcp_alloc(&f->p);
    CHECK_EQ(pmm_pcp_free(&f->p, b), 0);
    CHECK(pmm_pcp_any_cached(&f->p, (b >> 12) - 3, 4));
    CHECK(!pmm_pcp_any_cached(&f->p, (b >> 12) + 1, 200) ||
          pmm_pcp_is_cached(&f->p, b + PAGE_SIZE));
    fix_free(f);
}

/* ---- remote drains ---------------------------------------------------------- */

static volatile int holder_stop, holder_ready;

static void *hold_and_poll(void *arg)
{
    struct fix *f = arg;
    paddr_t got[16];
    for (int i = 0; i < 16; i++)
        got[i] = pmm_pcp_alloc(&f->p);
    for (int i = 0; i < 16; i++)
        pmm_pcp_free(&f->p, got[i]);
    __atomic_store_n(&holder_ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&holder_stop, __ATOMIC_ACQUIRE))
        pmm_pcp_poll(&f->p); /* as the kernel's idle loop does */
    return NULL;
}

HTEST(pcp_dry_core_drains_other_caches)
{
    struct fix *f = fix_new(MiB(1));
    CHECK(f != NULL);
    uint64_t total = all_free(f);
    holder_stop = holder_ready = 0;
    pthread_t t;
    pthread_create(&t, NULL, hold_and_poll, f);
    while (!__atomic_load_n(&holder_ready, __ATOMIC_ACQUIRE))
        ;
    uint64_t parked = pmm_pcp_total(&f->p);
    CHECK(parked >= 16);
    /* Take every frame: the last ones come out of the other thread's cache. */
    static paddr_t got[1024];
    uint64_t n = 0;
    while (n < 1024 && (got[n] = pmm_pcp_alloc(&f->p)) != 0)
        n++;
    __atomic_store_n(&holder_stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK_EQ(n, total);
    CHECK_EQ(all_free(f), 0);
    for (uint64_t i = 0; i < n; i++)
        CHECK_EQ(pmm_pcp_free(&f->p, got[i]), 0);
    CHECK_EQ(all_free(f), total);
    pmm_pcp_drain(&f->p);
    CHECK_EQ(f->c.free_frames, total);
    CHECK_EQ(pmm_core_check(&f->c), 0);
    fix_free(f);
}

static void *fill_and_exit(void *arg)
{
    struct fix *f = arg;
    paddr_t got[40];
    for (int i = 0; i < 40; i++)
        got[i] = pmm_pcp_alloc(&f->p);
    for (int i = 0; i < 40; i++)
        pmm_pcp_free(&f->p, got[i]);
    return NULL;
}

HTEST(pcp_thread_exit_drains_its_cache)
{
    struct fix *f = fix_new(SIZE);
    CHECK(f != NULL);
    uint64_t start = f->c.free_frames;
    pthread_t t;
    pthread_create(&t, NULL, fill_and_exit, f);
    pthread_join(t, NULL);
    CHECK_EQ(pmm_pcp_total(&f->p), 0);
    CHECK_EQ(f->c.free_frames, start);
    CHECK(!pmm_pcp_any_cached(&f->p, 0, f->c.nframes));
    fix_free(f);
}

HTEST(pcp_empty_everywhere_fails_cleanly)
{
    struct fix *f = fix_new(MiB(1));
    CHECK(f != NULL);
    static paddr_t got[1024];
    uint64_t n = 0;
    while (n < 1024 && (got[n] = pmm_pcp_alloc(&f->p)) != 0)
        n++;
    CHECK_EQ(pmm_pcp_alloc(&f->p), 0);
    CHECK_EQ(all_free(f), 0);
    CHECK(!pmm_pcp_steal(&f->p)); /* nobody to ask */
    for (uint64_t i = 0; i < n; i++)
        CHECK_EQ(pmm_pcp_free(&f->p, got[i]), 0);
    CHECK_EQ(all_free(f), n);
    fix_free(f);
}
