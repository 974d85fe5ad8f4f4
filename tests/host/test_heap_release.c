/*
 * Host tests of the heap's spans and its release policy (src/mm/block.c,
 * heap_map.c, heap_release.c): the 2..64 KiB classes are a pop and a push,
 * a freed burst goes back with no call, a big alloc/free pair does not
 * trim and grow every time, and decommitted pages are never relied on (the
 * page source scribbles over them).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/kmalloc.h>
#include <pagoda/printk.h>

#include "harness.h"
#include "heap_fixture.h"

#define REGION_BYTES (1ULL << 30)

static struct heap_region hr;
static size_t scribbled;

static void scribble(void *p, size_t n)
{
    memset(p, 0xa5, n);
    scribbled += n;
}

static void setup(int harden)
{
    heap_region_init(&hr, heap_fixture_region(REGION_BYTES), REGION_BYTES);
    hr.discard = scribble;
    kheap_init(&hr.src, harden);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

HTEST(heap_medium_classes_are_a_pop_and_a_push)
{
    setup(0);
    for (size_t n = 2049; n <= KHEAP_SMALL_MAX; n += 3001) {
        void *warm = kmalloc(n);
        struct kheap_stats a, b;
        kheap_stats(&a);
        for (int i = 0; i < 100; i++) {
            uint8_t *p = kmalloc(n);
            CHECK(p != NULL);
            p[0] = p[n - 1] = 1;
            CHECK(kmalloc_usable_size(p) >= n && kmalloc_usable_size(p) < n + n / 4 + 16);
            kfree(p);
        }
        kheap_stats(&b);
        CHECK_EQ(b.list_used_blocks, a.list_used_blocks);
        CHECK_EQ(b.grows, a.grows);
        kfree(warm);
    }
    CHECK_EQ(kheap_check(), 0);
}

/* 100,000 blocks of 8 B..2 KiB, freed in random order, with 1 % kept (at
 * `keep` 1): the heap gives the rest back on its own. */
static void burst(int harden, int keep)
{
    enum { N = 100000 };
    static uint8_t *p[N];
    static uint16_t n[N];
    static uint8_t f[N];
    setup(harden);
    scribbled = 0;
    for (int i = 0; i < N; i++) {
        n[i] = (uint16_t)(8 + rnd() % 2041);
        f[i] = (uint8_t)rnd();
        p[i] = kmalloc(n[i]);
        if (!p[i])
            abort();
        memset(p[i], f[i], n[i]);
    }
    struct kheap_stats st;
    kheap_stats(&st);
    size_t peak = st.heap_bytes;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1));
        uint8_t *t = p[i];
        p[i] = p[j];
        p[j] = t;
        uint16_t u = n[i];
        n[i] = n[j];
        n[j] = u;
        uint8_t v = f[i];
        f[i] = f[j];
        f[j] = v;
    }
    for (int i = 0; i < N; i++) {
        if (keep && i % 100 == 0)
            continue;
        kfree(p[i]);
        p[i] = NULL;
    }
    /* The CPU goes idle: the kernel's idle loop (smp_idle) makes this call
     * once the CPU has been idle a while; a host thread has no idle loop. */
    kheap_cpu_idle(KHEAP_IDLE_DRAIN_TICKS);
    kheap_stats(&st);
    printk("burst (level %d, %s): %zu KiB held of %zu KiB at the peak, %zu KiB decommitted, "
           "%zu runs\n",
           harden, keep ? "1% kept" : "all freed", st.heap_bytes / 1024, peak / 1024,
           st.decommitted_bytes / 1024, st.releases);
    CHECK(st.releases > 0);
    CHECK(scribbled > 0);
    if (!keep)
        CHECK(st.heap_bytes <= MiB(3));
    else
        CHECK(st.heap_bytes <= peak / 2);
    CHECK_EQ(kheap_check(), 0);
    for (int i = 0; i < N; i++) { /* the survivors are intact */
        if (!p[i])
            continue;
        for (unsigned k = 0; k < n[i]; k += 7)
            CHECK(p[i][k] == f[i]);
        kfree(p[i]);
    }
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_burst_goes_back_on_its_own)
{
    burst(0, 0);
    burst(1, 0);
}

/* The classes above 64 KiB: a burst of 600 blocks of 64..256 KiB (about
 * 100 MiB) freed in random order goes back too, magazines and depots
 * included, once the CPU is idle. */
HTEST(heap_big_class_burst_goes_back_on_its_own)
{
    enum { N = 600 };
    static uint8_t *p[N];
    setup(0);
    size_t base = 0;
    {
        struct kheap_stats st;
        kheap_stats(&st);
        base = st.heap_bytes;
    }
    for (int i = 0; i < N; i++) {
        size_t n = 65537 + rnd() % (KHEAP_SMALL_MAX - 65536);
        p[i] = kmalloc(n);
        CHECK(p[i] != NULL);
        p[i][0] = p[i][n - 1] = 1;
    }
    struct kheap_stats st;
    kheap_stats(&st);
    size_t peak = st.heap_bytes;
    for (int left = N; left > 0; left--) { /* in random order: any of those left */
        int j = (int)(rnd() % (uint64_t)left);
        kfree(p[j]);
        p[j] = p[left - 1];
    }
    kheap_cpu_idle(KHEAP_IDLE_DRAIN_TICKS);
    kheap_stats(&st);
    printk("big-class burst: %zu KiB held of %zu KiB at the peak (%zu KiB before)\n",
           st.heap_bytes / 1024, peak / 1024, base / 1024);
    CHECK(peak >= base + MiB(90));
    CHECK(st.heap_bytes <= base + MiB(4));
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_burst_with_survivors)
{
    burst(0, 1);
}

/* Decommitted pages are committed again on reuse: contents written after
 * a burst stay, at every level. */
HTEST(heap_reuse_after_release)
{
    for (int harden = 0; harden <= 2; harden++) {
        setup(harden);
        static uint8_t *p[20000];
        for (int i = 0; i < 20000; i++)
            p[i] = kmalloc(1 + rnd() % 3000);
        for (int i = 0; i < 20000; i++)
            kfree(p[i]);
        CHECK(kheap_release(true) > 0 || scribbled > 0);
        for (int i = 0; i < 20000; i++) {
            size_t n = 1 + rnd() % 200000;
            p[i % 200] = kmalloc(n);
            CHECK(p[i % 200] != NULL);
            memset(p[i % 200], 0x3c, n);
            for (size_t k = 0; k < n; k += 4096)
                CHECK(p[i % 200][k] == 0x3c);
            kfree(p[i % 200]);
            if (i % 5000 == 0)
                CHECK_EQ(kheap_check(), 0);
        }
        CHECK_EQ(kheap_check(), 0);
    }
}

/* One big block allocated and freed again and again: after the first
 * pairs, no page-source call at all. */
HTEST(heap_big_pair_does_not_thrash)
{
    setup(0);
    for (size_t n = KiB(256); n <= MiB(4); n *= 4) {
        for (int i = 0; i < 10; i++)
            kfree(kmalloc(n));
        struct kheap_stats a, b;
        kheap_stats(&a);
        for (int i = 0; i < 1000; i++) {
            void *p = kmalloc(n);
            CHECK(p != NULL);
            kfree(p);
        }
        kheap_stats(&b);
        CHECK_EQ(b.grows, a.grows);
        CHECK_EQ(b.shrinks, a.shrinks);
    }
    /* Memory short: everything idle goes. */
    kheap_release(true);
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK(st.heap_bytes <= KiB(256));
    CHECK_EQ(kheap_check(), 0);
}

/* Workload 4's shape: pairs of 4 KiB..1 MiB (log-uniform) over a heap that
 * holds little else. Every class of 4..64 KiB keeps one empty span, and
 * those spans together pass the release threshold: a run that gives them
 * all back makes the next pairs take them again (a commit of up to 544 KiB
 * each), run after run. After a warm-up, the pairs must run with almost no
 * page-source call. */
HTEST(heap_mixed_big_pairs_do_not_churn)
{
    setup(0);
    static uint32_t req[6000];
    for (int i = 0; i < 6000; i++) {
        unsigned e = 12 + (unsigned)(rnd() % 8);
        req[i] = (uint32_t)((1u << e) + rnd() % (1u << e));
    }
    for (int i = 0; i < 1000; i++)
        kfree(kmalloc(req[i]));
    struct kheap_stats a, b;
    kheap_stats(&a);
    size_t s0 = scribbled;
    for (int i = 1000; i < 6000; i++) {
        uint8_t *p = kmalloc(req[i]);
        CHECK(p != NULL);
        p[0] = p[req[i] - 1] = 1;
        kfree(p);
    }
    kheap_stats(&b);
    printk("mixed big pairs: %zu runs, %zu shrinks, %zu KiB discarded in 5000 pairs, %zu KiB "
           "held\n",
           b.releases - a.releases, b.shrinks - a.shrinks, (scribbled - s0) / 1024,
           b.heap_bytes / 1024);
    CHECK(b.releases - a.releases <= 2);
    CHECK(b.shrinks - a.shrinks <= 4);
    CHECK_EQ(kheap_check(), 0);
    /* Memory short: the kept spans go too. */
    kheap_release(true);
    kheap_stats(&b);
    CHECK(b.heap_bytes <= KiB(512));
    CHECK_EQ(kheap_check(), 0);
}

/* A class used once and then left alone does not keep its empty span past
 * the next run: only a class that came back for a span after a run took
 * it keeps one. */
HTEST(heap_cold_class_span_goes_at_next_run)
{
    setup(0);
    kfree(kmalloc(40000)); /* class 40,960: one empty span kept */
    kheap_mag_drain();       /* (the block waited in this CPU's magazine) */
    struct kheap_stats a, b;
    kheap_stats(&a);
    CHECK(a.idle_bytes >= KiB(400));
    kheap_release(false);
    kheap_stats(&b);
    CHECK(b.idle_bytes < a.idle_bytes);
    unsigned cls = 0;
    while (b.cls[cls].size < 40000)
        cls++;
    CHECK_EQ(b.cls[cls].chunks, 0u);
    CHECK_EQ(kheap_check(), 0);
}

/* A run gives back the span descriptors' empty slab pages too: they sit
 * between the spans they described, and would keep the freed spans from
 * merging into blocks whose pages can go back. */
HTEST(heap_run_gives_back_descriptor_slabs)
{
    enum { N = 30000 };
    static void *p[N];
    setup(0);
    struct kheap_stats a, b;
    kheap_stats(&a);
    for (int i = 0; i < N; i++) {
        p[i] = kmalloc(2000); /* some 2,000 spans: dozens of descriptor pages */
        CHECK(p[i] != NULL);
    }
    for (int i = 0; i < N; i++)
        kfree(p[i]);
    kheap_mag_drain();
    kheap_release(false);
    kheap_stats(&b);
    CHECK(b.list_used_blocks <= a.list_used_blocks + 4);
    CHECK(b.list_free_blocks <= a.list_free_blocks + 4);
    CHECK_EQ(kheap_check(), 0);
}

/* A big block freed and taken again waits in the list allocator's cache:
 * no merge on the free and no split on the next alloc (the bins' bytes do
 * not move), a second kfree is still a double free, kheap_check accepts
 * cached blocks, and memory short empties the cache so its blocks serve a
 * request none of them fits alone. */
HTEST(heap_big_block_cache)
{
    setup(0);
    for (size_t n = KiB(80); n <= MiB(1); n *= 2) {
        for (int i = 0; i < 40; i++) /* the cache learns that this size repeats */
            kfree(kmalloc(n));
        uint8_t *p = kmalloc(n);
        CHECK(p != NULL);
        kfree(p);
        struct kheap_stats a, b;
        kheap_stats(&a);
        uint8_t *q = kmalloc(n);
        kheap_stats(&b);
        CHECK(q == p);
        CHECK_EQ(b.list_free_bytes, a.list_free_bytes);
        CHECK_EQ(b.list_free_blocks, a.list_free_blocks);
        memset(q, 0x77, n);
        kfree(q);
        CHECK_EQ(kheap_check(), 0);
        CHECK(EXPECT_PANIC(kfree(q)));
        CHECK(strstr(htest_panic_msg, "double free") != NULL);
    }
    CHECK_EQ(kheap_check(), 0);
    /* A 4 MiB heap: two cached 1 MiB blocks and the rest must merge for a
     * 3 MiB request. */
    heap_region_init(&hr, heap_fixture_region(REGION_BYTES), MiB(4));
    kheap_init(&hr.src, 0);
    uint8_t *x = kmalloc(MiB(1)), *y = kmalloc(MiB(1));
    CHECK(x != NULL && y != NULL);
    kfree(x);
    kfree(y);
    uint8_t *z = kmalloc(MiB(3));
    CHECK(z != NULL);
    memset(z, 1, MiB(3));
    kfree(z);
    CHECK_EQ(kheap_check(), 0);
}
