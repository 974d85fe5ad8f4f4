/*
 * Host tests of the per-CPU fronts for big blocks (src/mm/heap_big.c): a
 * pair on one CPU reuses its block without the list, every double free is
 * still caught (of a kept block, after reuse, after another thread freed
 * the block, after its entry was evicted), the limits hold, random sizes
 * keep nothing, the statistics stay exact, and draining gives it all back.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <pagoda/kmalloc.h>

#include "../../src/mm/heap_internal.h" /* BIG_OUT, BIG_SLOTS */
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

static size_t kept(void)
{
    struct kheap_stats s;
    kheap_stats(&s);
    return s.big_kept_bytes;
}

/* Pairs of one size until the front keeps its block (a size that repeats). */
static void warm(size_t n)
{
    for (int i = 0; i < 40; i++) {
        char *p = kmalloc(n);
        p[0] = p[n - 1] = 1;
        kfree(p);
    }
}

HTEST(big_pair_reuses_its_block_without_the_list)
{
    setup(0);
    struct kheap_stats s0, a, b;
    kheap_stats(&s0);
    for (size_t n = 270000; n <= MiB(2); n = n * 3 / 2) {
        warm(n);
        char *p = kmalloc(n);
        CHECK(p != NULL);
        size_t cap = kmalloc_usable_size(p);
        kfree(p);
        kheap_stats(&a);
        CHECK(a.big_kept_bytes >= cap);
        char *q = kmalloc(n);
        kheap_stats(&b);
        CHECK(q == p); /* the kept block */
        CHECK_EQ(b.list_free_bytes, a.list_free_bytes);
        CHECK_EQ(b.list_free_blocks, a.list_free_blocks);
        CHECK_EQ(b.list_used_blocks, a.list_used_blocks);
        CHECK_EQ(b.big_kept_bytes, a.big_kept_bytes - cap);
        CHECK_EQ(b.live_bytes, a.live_bytes + cap);
        CHECK_EQ(b.live_objects, a.live_objects + 1);
        memset(q, 0x5a, n);
        kfree(q);
        CHECK_EQ(kheap_check(), 0);
    }
    kheap_stats(&b);
    CHECK_EQ(b.live_bytes, s0.live_bytes);
    CHECK_EQ(b.live_objects, s0.live_objects);
    kheap_mag_drain(); /* the kept blocks go back to the list */
    kheap_stats(&b);
    CHECK_EQ(b.big_kept_bytes, 0);
    CHECK_EQ(b.list_used_blocks, s0.list_used_blocks);
    CHECK_EQ(b.live_bytes, s0.live_bytes);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(big_double_free_of_a_kept_block_and_after_reuse)
{
    setup(0);
    warm(600000);
    char *p = kmalloc(600000);
    kfree(p); /* kept */
    CHECK(kept() > 0);
    CHECK(EXPECT_PANIC(kfree(p)));
    CHECK(said("double free"));
    char *q = kmalloc(600000);
    CHECK(q == p);
    kfree(q);
    CHECK(EXPECT_PANIC(kfree(q)));
    CHECK(said("double free"));
    CHECK_EQ(kheap_check(), 0);
}

/* Another thread frees a block this thread handed out (the locked free,
 * which must drop this thread's entry): this thread's second free must not
 * find it in its front. */
static void *free_it(void *p)
{
    kfree(p);
    return NULL;
}

HTEST(big_free_on_another_thread_drops_the_entry)
{
    setup(0);
    warm(400000);
    for (int i = 0; i < 3; i++) {
        char *p = kmalloc(400000);
        pthread_t t;
        pthread_create(&t, NULL, free_it, p);
        pthread_join(t, NULL);
        CHECK(EXPECT_PANIC(kfree(p)));
        CHECK(said("double free"));
    }
    CHECK_EQ(kheap_check(), 0);
}

/* The owner's lock-free free lands between another thread's locked check
 * of the block and its drop of the entry (the window hook holds the other
 * thread there): the owner's free keeps the block, and the other's must be
 * reported, not free the kept block a second time. */
static void *volatile window_block;
static _Atomic int window_state; /* 1: the other thread is in the window; 2: the owner freed */
static _Atomic int window_refused;

static void in_window(void)
{
    window_state = 1;
    while (window_state != 2)
        sched_yield();
}

static void *free_in_window(void *arg)
{
    UNUSED(arg);
    if (EXPECT_PANIC(kfree(window_block)) && said("double free"))
        window_refused = 1;
    return NULL;
}

HTEST(big_owner_free_inside_another_cpus_locked_free_wins_once)
{
    setup(0);
    warm(400000);
    size_t kept0 = kept();
    window_block = kmalloc(400000);
    window_state = window_refused = 0;
    heap_big_window_hook = in_window;
    pthread_t t;
    pthread_create(&t, NULL, free_in_window, NULL);
    while (window_state != 1)
        sched_yield();
    heap_big_window_hook = NULL;
    kfree(window_block); /* the owner's exchange wins: kept, no lock */
    window_state = 2;
    pthread_join(t, NULL);
    CHECK_EQ(window_refused, 1);
    /* The owner kept it again (kheap_stats takes the lock the other held). */
    CHECK(kept0 > 0);
    CHECK_EQ(kept(), kept0);
    CHECK_EQ(kheap_check(), 0);
}

/* More live blocks than the front remembers: the oldest entries are
 * evicted (their frees take the lock), and each free is still right. */
HTEST(big_evicted_entries_free_through_the_lock)
{
    setup(0);
    warm(300000);
    struct kheap_stats a, b;
    kheap_stats(&a);
    char *p[BIG_OUT + 4];
    for (int i = 0; i < BIG_OUT + 4; i++) {
        p[i] = kmalloc(300000);
        memset(p[i], i, 300000);
    }
    for (int i = 0; i < BIG_OUT + 4; i++) {
        for (int j = 0; j < 300000; j += 4096)
            CHECK_EQ(p[i][j], (char)i);
        kfree(p[i]);
    }
    kheap_stats(&b);
    CHECK_EQ(b.live_bytes, a.live_bytes);
    CHECK_EQ(b.live_objects, a.live_objects);
    CHECK(b.big_kept_bytes <= MiB(4));
    for (int i = 0; i < BIG_OUT + 4; i += 3) { /* (merged in the list: no block there now) */
        CHECK(EXPECT_PANIC(kfree(p[i])));
        CHECK(said("double free") || said("never returned"));
    }
    CHECK_EQ(kheap_check(), 0);
}

HTEST(big_front_limits)
{
    setup(0);
    warm(MiB(5)); /* bigger than a front keeps */
    CHECK_EQ(kept(), 0);
    warm(MiB(1));
    char *p[6];
    for (int i = 0; i < 6; i++)
        p[i] = kmalloc(MiB(1));
    for (int i = 0; i < 6; i++)
        kfree(p[i]);
    size_t k = kept();
    CHECK(k > 0 && k <= MiB(4));
    CHECK_EQ(kheap_check(), 0);
}

/* Sizes that never repeat: the front sends what it kept back to the list
 * and keeps at most its trial block. */
HTEST(big_random_sizes_keep_little)
{
    setup(0);
    uint64_t r = 12345;
    size_t most = 0;
    for (int i = 0; i < 3000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        size_t n = 270000 + r % 700000;
        char *p = kmalloc(n);
        p[0] = 1;
        kfree(p);
        most = MAX(most, kept());
    }
    printk("random big sizes: at most %zu KiB kept\n", most / 1024);
    CHECK(most <= MiB(1));
    CHECK_EQ(kheap_check(), 0);
}

HTEST(big_no_front_when_hardening)
{
    setup(1);
    warm(400000);
    CHECK_EQ(kept(), 0);
    char *p = kmalloc(400000);
    kfree(p);
    CHECK(EXPECT_PANIC(kfree(p)));
    CHECK(said("double free"));
    CHECK_EQ(kheap_check(), 0);
}

/* Memory short: a request that only the kept blocks merged can serve. */
HTEST(big_kept_blocks_merge_when_memory_is_short)
{
    heap_region_init(&hr, heap_fixture_region(REGION), MiB(4));
    kheap_init(&hr.src, 0);
    warm(MiB(1));
    char *x = kmalloc(MiB(1)), *y = kmalloc(MiB(1));
    CHECK(x && y);
    kfree(x);
    kfree(y);
    CHECK(kept() > 0);
    char *z = kmalloc(MiB(3));
    CHECK(z != NULL);
    memset(z, 1, MiB(3));
    kfree(z);
    CHECK_EQ(kheap_check(), 0);
}
