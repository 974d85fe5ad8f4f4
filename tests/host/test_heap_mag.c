/* The magazine layer (src/mm/heap_mag.c, slab_mag.c): blocks freed into a
 * magazine are free-but-cached in the statistics, a double free is caught
 * while the first free sits in a magazine (this thread's or another's), the
 * depot keeps a bounded number of full magazines, and drains give every
 * block back to its span. */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/kmalloc.h>
#include <pagoda/slab.h>

#include "harness.h"
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
