/* The magazine layer (src/mm/heap_mag.c, heap_depot.c, slab_mag.c): blocks
 * freed into a magazine are free-but-cached in the statistics, a double
 * free is caught while the first free sits in a magazine (this thread's or
 * another's), the depot keeps a bounded number of full magazines, drains
 * give every block back to its span, and a class's magazines grow when its
 * depot lock is contended and never on one thread. */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/errno.h>
#include <pagoda/kmalloc.h>
#include <pagoda/slab.h>

#include "../../src/mm/heap_internal.h" /* the depots, to contend for one */
#include "harness.h"
#include "lock_holder.h"
#include "heap_fixture.h"

#define REGION (256ULL << 20)

static struct heap_region hr;

static void setup(int harden)
{
    heap_region_init(&hr, heap_fixture_region(REGION), REGION);
    kheap_init(&hr.src, harden);
}

static bool said(const char *w)
{
    return strstr(htest_panic_msg, w) != NULL;
}

static unsigned cls_of(size_t size)
{
    struct kheap_stats st;
    void *p = kmalloc(size);
    kheap_stats(&st);
    unsigned c = 0;
    while (c < KHEAP_NCLASSES && !(st.cls[c].live && st.cls[c].size >= size))
        c++;
    kfree(p);
    return c;
}

HTEST(mag_freed_blocks_are_cached_not_live)
{
    for (int harden = 0; harden <= 1; harden++) {
        setup(harden);
        unsigned c = cls_of(100);
        struct kheap_stats a, b;
        kheap_stats(&a);
        void *p[10];
        for (int i = 0; i < 10; i++)
            p[i] = kmalloc(100);
        kheap_stats(&b);
        CHECK_EQ(b.cls[c].live, a.cls[c].live + 10);
        for (int i = 0; i < 10; i++)
            kfree(p[i]);
        kheap_stats(&b);
        CHECK_EQ(b.cls[c].live, a.cls[c].live);
        CHECK_EQ(b.live_bytes, a.live_bytes);
        CHECK(b.cls[c].cached >= 10);
        CHECK(kheap_mag_count(0) + kheap_mag_count(1) >= 10);
        CHECK_EQ(kheap_check(), 0);
        kheap_mag_drain();
        kheap_stats(&b);
        CHECK_EQ(b.mag_cached, 0);
        CHECK_EQ(b.mags, 0);
        CHECK_EQ(b.cls[c].live, a.cls[c].live);
        CHECK_EQ(kheap_check(), 0);
    }
}

/* Live bytes are the spans' out-of-span bytes less what the magazines
 * cache: exact through allocations, frees into magazines and drains; the
 * peak counts cached blocks as handed out; and kheap_check holds the
 * counter to the spans. */
HTEST(mag_live_bytes_without_a_fast_path_counter)
{
    setup(0);
    struct kheap_stats a, b;
    kheap_stats(&a);
    void *p[300];
    for (int i = 0; i < 300; i++)
        p[i] = kmalloc(48 + (size_t)(i % 7) * 100); /* 48 ... 648 B: several classes */
    kheap_stats(&b);
    size_t want = 0;
    for (int i = 0; i < 300; i++)
        want += kmalloc_usable_size(p[i]);
    CHECK_EQ(b.live_bytes, a.live_bytes + want);
    CHECK(b.peak_live_bytes >= b.live_bytes);
    for (int i = 0; i < 300; i += 2)
        kfree(p[i]);
    kheap_stats(&b);
    size_t half = 0;
    for (int i = 1; i < 300; i += 2)
        half += kmalloc_usable_size(p[i]);
    CHECK_EQ(b.live_bytes, a.live_bytes + half);
    CHECK(b.mag_cached > 0);
    CHECK_EQ(kheap_check(), 0);
    kheap.span_out_bytes += 16; /* a block the counter missed */
    CHECK_EQ(kheap_check(), -E_CORRUPT);
    kheap.span_out_bytes -= 16;
    CHECK_EQ(kheap_check(), 0);
    for (int i = 1; i < 300; i += 2)
        kfree(p[i]);
    kheap_mag_drain();
    kheap_stats(&b);
    CHECK_EQ(b.live_bytes, a.live_bytes);
    CHECK_EQ(kheap_check(), 0);
}

/* A CPU swapping its two magazines stores the loaded pointer, then the
 * previous one: for a moment both name the same magazine, and a snapshot
 * on another CPU counts it twice. The figures must stay sane (they once
 * wrapped below zero). */
HTEST(mag_stats_survive_a_swap_seen_half_done)
{
    setup(0);
    void *p[16];
    for (int i = 0; i < 16; i++)
        p[i] = kmalloc(96);
    unsigned c = cls_of(96);
    for (int i = 0; i < 16; i++)
        kfree(p[i]);
    struct heap_front *f = &heap_fronts[heap_cpu()];
    struct mag *prev = f->prev[c];
    CHECK(f->loaded[c]->rounds > 0);
    f->prev[c] = f->loaded[c]; /* the swap's midpoint */
    struct kheap_stats st;
    kheap_stats(&st);
    f->prev[c] = prev;
    CHECK(st.cls[c].live <= st.cls[c].capacity);
    CHECK(st.cls[c].cached <= st.cls[c].capacity);
    CHECK(st.live_bytes < ((size_t)1 << 40));
    CHECK_EQ(kheap_check(), 0);
}

HTEST(mag_double_free_in_own_magazine)
{
    for (volatile int harden = 0; harden <= 1; harden++) {
        setup(harden);
        char *p = kmalloc(48);
        kfree(p); /* now in this thread's magazine, not on its span */
        CHECK(EXPECT_PANIC(kfree(p)));
        CHECK(said("double free"));
        CHECK_EQ(kheap_check(), 0);
    }
}

/* Live data equal to the free key must not be reported: the key is
 * confirmed against the span, every magazine and the depot. */
HTEST(mag_key_lookalike_is_not_a_double_free)
{
    setup(0);
    uint64_t *p = kmalloc(64);
    kfree(p);
    uint64_t key = p[1]; /* the free key a kfree leaves */
    p = kmalloc(64);
    p[1] = key; /* user data that looks like it */
    kfree(p);   /* must not panic */
    kheap_mag_drain();
    CHECK_EQ(kheap_check(), 0);
}

static void *free_it(void *arg)
{
    kfree(arg);
    return NULL;
}

HTEST(mag_double_free_after_a_thread_freed_it)
{
    setup(0);
    void *p = kmalloc(200);
    pthread_t t;
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL); /* its magazine drained into the depot and spans as it ended */
    CHECK(EXPECT_PANIC(kfree(p)));
    CHECK(said("double free"));
}

HTEST(mag_depot_is_bounded_and_drains)
{
    setup(0);
    static void *p[20000];
    for (int i = 0; i < 20000; i++)
        p[i] = kmalloc(32);
    for (int i = 0; i < 20000; i++)
        kfree(p[i]);
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK(st.mag_cached < 1000); /* the rest went back to the spans */
    kheap_trim();
    kheap_stats(&st);
    CHECK_EQ(st.mag_cached, 0);
    CHECK_EQ(st.live_bytes, 0);
    CHECK_EQ(kheap_check(), 0);
}

/* A batch that keeps coming back (1,600 blocks of 64 B allocated, then
 * freed in the same order, again and again: a list built and torn down)
 * stays in the magazines and the depot once the depot has learnt it wants
 * them: its frees no longer go back to the spans. The depot's bound is
 * what lets it (four full magazines of 256 held 1,024 + 512 of them). */
HTEST(mag_depot_holds_a_batch_that_keeps_coming_back)
{
    setup(0);
    unsigned c = cls_of(64);
    static void *p[1600];
    struct kheap_stats st;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 1600; i++)
            p[i] = kmalloc(64);
        for (int i = 0; i < 1600; i++)
            kfree(p[i]);
    }
    kheap_stats(&st);
    CHECK(st.cls[c].cached >= 1600);
    CHECK_EQ(st.cls[c].live, 0);
    CHECK_EQ(kheap_check(), 0);
    kheap_trim();
    kheap_stats(&st);
    CHECK_EQ(st.mag_cached, 0);
}

HTEST(mag_slab_double_free_in_magazine_and_drain)
{
    setup(0);
    struct kmem_cache *c = kmem_cache_create("t_mag", 40, 0, NULL, NULL);
    void *o[100];
    for (int i = 0; i < 100; i++)
        o[i] = kmem_cache_alloc(c);
    for (int i = 0; i < 100; i++)
        kmem_cache_free(c, o[i]);
    struct kmem_cache_stats st;
    kmem_cache_stats(c, &st);
    CHECK_EQ(st.live, 0);
    CHECK(st.cached > 0);
    void *x = kmem_cache_alloc(c);
    kmem_cache_free(c, x);
    CHECK(EXPECT_PANIC(kmem_cache_free(c, x)));
    CHECK(said("double free") && said("magazine"));
    slab_mag_drain();
    kmem_cache_stats(c, &st);
    CHECK_EQ(st.cached, 0);
    CHECK_EQ(st.empty, st.slabs);
    CHECK_EQ(kmem_cache_check(c), 0);
    kmem_cache_destroy(c);
}

/* ---- magazine capacity (heap_depot.c): grows with contention only */

static uint64_t mix_rng = 88172645463325252ULL;
static size_t mix_size(void)
{
    mix_rng ^= mix_rng << 13, mix_rng ^= mix_rng >> 7, mix_rng ^= mix_rng << 17;
    return 8 + mix_rng % 2041;
}

/* The random mix of the multi-threaded bench, on one thread: every class
 * trades with its depot over and over, and nothing ever waits. */
/* The cached blocks of class size, or of every class (size 0). */
static uint64_t cached(size_t size)
{
    struct kheap_stats st;
    kheap_stats(&st);
    uint64_t n = 0;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
        if (!size || (st.cls[c].size >= size && (c == 0 || st.cls[c - 1].size < size)))
            n += st.cls[c].cached;
    return n;
}

/* A burst of frees that no allocation follows: once a class's magazine is
 * flushed to its spans, so are the other classes' that nobody allocates
 * from, so their blocks do not stay behind, each pinning its span. */
HTEST(mag_burst_flush_takes_the_other_classes_along)
{
    enum { NA = 300, NB = 10000 };
    static void *a[NA], *b[NB];
    setup(0);
    for (int i = 0; i < NA; i++)
        a[i] = kmalloc(2000);
    for (int i = 0; i < NB; i++)
        b[i] = kmalloc(16);
    for (int i = 0; i < NA; i++) /* long enough for its depot to want none */
        kfree(a[i]);
    CHECK(cached(2000) > 0); /* the last ones wait in a magazine */
    for (int i = 0; i < NB; i++)
        kfree(b[i]);
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK_EQ(st.releases, 0u); /* no run drained them */
    CHECK_EQ(cached(2000), 0u);
    CHECK(cached(16) > 0);
    CHECK_EQ(kheap_check(), 0);
}

/* Once a release run has drained the freeing CPU's magazines in a burst of
 * frees, the rest of the burst goes straight to the spans: no block of it
 * waits in a magazine when it ends. */
HTEST(mag_burst_after_a_run_leaves_nothing_cached)
{
    enum { N = 6000 };
    static void *p[N];
    setup(0);
    for (int i = 0; i < N; i++)
        p[i] = kmalloc(i % 3 == 0 ? 2000 : i % 3 == 1 ? 1000 : 1500);
    for (int i = 0; i < N; i++)
        kfree(p[i]);
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK(st.releases > 0);
    CHECK_EQ(cached(0), 0u);
    CHECK_EQ(kheap_check(), 0);
    /* Allocations bring the magazines back. */
    for (int i = 0; i < N; i++)
        p[i] = kmalloc(1000);
    for (int i = 0; i < 100; i++)
        kfree(p[i]);
    CHECK(cached(1000) > 0);
    for (int i = 100; i < N; i++)
        kfree(p[i]);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(mag_capacity_never_grows_on_one_thread)
{
    setup(0);
    struct kheap_stats a, b;
    kheap_stats(&a);
    static void *slot[4000];
    for (int i = 0; i < 4000; i++)
        slot[i] = kmalloc(mix_size());
    for (int i = 0; i < 400000; i++) {
        int k = (int)(mix_rng % 4000);
        kfree(slot[k]);
        slot[k] = kmalloc(mix_size());
    }
    for (int i = 0; i < 4000; i++)
        kfree(slot[i]);
    kheap_stats(&b);
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        CHECK_EQ(b.cls[c].mag_cap, a.cls[c].mag_cap);
        CHECK_EQ(b.cls[c].mag_grown, 0);
    }
    CHECK_EQ(a.cls[cls_of(2000)].mag_cap, 16); /* about 32 KiB of blocks */
    CHECK_EQ(a.cls[cls_of(64)].mag_cap, 512);   /* 32 KiB */
    CHECK_EQ(a.cls[cls_of(32)].mag_cap, 512);   /* the most rounds: 16 KiB */
    kheap_mag_drain();
    CHECK_EQ(kheap_check(), 0);
}

/* A thread that holds a class's depot lock until the main thread has
 * waited for it, `times` times: contention made deterministic. */
static struct mag_depot *held_depot;
static _Atomic int holds_left;
static void *hold_depot(void *arg)
{
    UNUSED(arg);
    lock_hold_until_waited(&held_depot->lock, &holds_left);
    return NULL;
}

/* Allocate and free n blocks of `size` (trips to the depot at every
 * magazine boundary). */
static void cycle(size_t size, int n)
{
    static void *p[512];
    for (int i = 0; i < n; i++)
        p[i] = kmalloc(size);
    for (int i = 0; i < n; i++)
        kfree(p[i]);
}

HTEST(mag_capacity_grows_when_the_depot_is_contended)
{
    setup(0);
    unsigned c = cls_of(1000);
    struct kheap_stats st;
    kheap_stats(&st);
    uint32_t cap0 = st.cls[c].mag_cap;
    CHECK_EQ(cap0, 32);
    cycle(1000, 128);
    held_depot = &kheap.depot[c];
    holds_left = 64; /* the waits grow it as far as it goes */
    pthread_t t;
    pthread_create(&t, NULL, hold_depot, NULL);
    for (int i = 0; i < 100000 && holds_left > 0; i++)
        cycle(1000, 128);
    holds_left = 0;
    pthread_join(t, NULL);
    cycle(1000, 256); /* new magazines of the grown capacity; old ones retire */
    kheap_stats(&st);
    CHECK(st.cls[c].mag_grown >= 1);
    CHECK(st.cls[c].mag_cap > cap0);
    CHECK(st.cls[c].mag_cap <= KiB(64) / 1024 + 1);
    CHECK(st.cls[c].cached > cap0 * 2); /* the bigger magazines are in use */
    for (unsigned k = 0; k < KHEAP_NCLASSES; k++) /* no other class waited */
        CHECK(k == c || st.cls[k].mag_grown == 0);
    CHECK_EQ(kheap_check(), 0);
    /* A double free is still caught in a grown magazine. */
    void *p = kmalloc(1000);
    kfree(p);
    CHECK(EXPECT_PANIC(kfree(p)));
    CHECK(said("double free"));
    kheap_mag_drain();
    kheap_stats(&st);
    CHECK_EQ(st.mag_cached, 0);
    CHECK_EQ(st.mags, 0);
    CHECK_EQ(st.live_bytes, 0);
    CHECK_EQ(kheap_check(), 0);
}
