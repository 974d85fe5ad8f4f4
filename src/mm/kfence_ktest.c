/*
 * In-kernel tests of the sampled guard pages over the kernel's real pool:
 * the layout against the guard page, the faults of an overflow and of a use
 * after free (caught by a recovery point after kfence's report), the panics
 * of a double, an invalid and a corrupting free, krealloc, the sampling rate
 * and the pool running full. Each test leaves the pool as it found it.
 */
#include <arch/monitor.h>
#include <pagoda/errno.h>
#include <pagoda/kfence.h>
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

static struct kfence_stats stats(void)
{
    struct kfence_stats st;
    kfence_get_stats(&st);
    return st;
}

/* A forced sample, or NULL when kfence is off in this boot. */
static uint8_t *sample(size_t size)
{
    if (!kfence_interval())
        return NULL;
    kfence_force_next();
    return kmalloc(size);
}

#define NEED_KFENCE(p)                                                                             \
    do {                                                                                           \
        if (!kfence_interval()) {                                                                  \
            printk("  (kfence is off in this boot: nothing to test)\n");                           \
            return;                                                                                \
        }                                                                                          \
        KT_ASSERT((p) != NULL && kfence_owns(p));                                                  \
    } while (0)

static bool mapped(const void *p)
{
    return vmm_translate(ALIGN_DOWN((vaddr_t)p, PAGE_SIZE), NULL, NULL) == 0;
}

KTEST(kfence_object_sits_against_its_guard_page)
{
    struct kfence_stats s0 = stats();
    uint8_t *p = sample(40);
    NEED_KFENCE(p);
    KT_ASSERT(((uintptr_t)p & 15) == 0);
    KT_ASSERT((vaddr_t)p >= KHEAP_BASE && (vaddr_t)p < KHEAP_LIMIT);
    KT_ASSERT(IS_ALIGNED((uintptr_t)p + 48, PAGE_SIZE)); /* 40 rounded to 16 */
    KT_ASSERT(mapped(p));
    KT_ASSERT(!mapped(p + 48));                 /* the guard page above */
    KT_ASSERT(!mapped(p + 48 - 2 * PAGE_SIZE)); /* and the one below */
    KT_ASSERT_EQ(kmalloc_usable_size(p), 40);
    memset(p, 0x5c, 40);
    KT_ASSERT_EQ(stats().live, s0.live + 1);
    KT_ASSERT_EQ(stats().live_bytes, s0.live_bytes + 40);
    KT_ASSERT_EQ(kfence_check(), 0);
    kfree(p);
    KT_ASSERT(!mapped(p)); /* a freed slot's page is gone */
    KT_ASSERT_EQ(stats().live, s0.live);
    KT_ASSERT_EQ(stats().allocs, s0.allocs + 1);
    KT_ASSERT_EQ(stats().frees, s0.frees + 1);
}

KTEST(kfence_overflow_faults_with_a_report)
{
    struct kfence_stats s0 = stats();
    uint8_t *volatile p = sample(32);
    NEED_KFENCE(p);
    struct arch_recover r;
    int how = arch_recover_arm(&r);
    if (how == 0)
        p[32] = 1; /* the first byte of the guard page */
    arch_recover_disarm(&r);
    KT_ASSERT_EQ(how, 1);
    KT_ASSERT_EQ(arch_last_fault()->vector, 14);
    KT_ASSERT_EQ(arch_last_fault()->addr, (uintptr_t)p + 32);
    KT_ASSERT_EQ(stats().bugs, s0.bugs + 1);
    kfree(p); /* nothing was written: a clean free */
    KT_ASSERT_EQ(stats().live, s0.live);
}

KTEST(kfence_use_after_free_faults_with_a_report)
{
    struct kfence_stats s0 = stats();
    uint8_t *volatile p = sample(100);
    NEED_KFENCE(p);
    p[99] = 7;
    kfree(p);
    volatile uint8_t got = 0;
    struct arch_recover r;
    int how = arch_recover_arm(&r);
    if (how == 0)
        got = p[50]; /* a read through the dangling pointer */
    arch_recover_disarm(&r);
    KT_ASSERT_EQ(how, 1);
    KT_ASSERT_EQ(got, 0);
    KT_ASSERT_EQ(arch_last_fault()->addr, (uintptr_t)p + 50);
    KT_ASSERT_EQ(arch_last_fault()->error & 2, 0); /* a read */
    KT_ASSERT_EQ(stats().bugs, s0.bugs + 1);
}

KTEST(kfence_double_free_panics)
{
    struct kfence_stats s0 = stats();
    uint8_t *p = sample(24);
    NEED_KFENCE(p);
    kfree(p);
    KT_ASSERT(ktest_kfree_panics(p));
    KT_ASSERT_EQ(stats().bugs, s0.bugs + 1);
    KT_ASSERT_EQ(stats().frees, s0.frees + 1);
}

KTEST(kfence_invalid_free_panics)
{
    struct kfence_stats s0 = stats();
    uint8_t *p = sample(64);
    NEED_KFENCE(p);
    KT_ASSERT(ktest_kfree_panics(p + 16));     /* inside the object */
    KT_ASSERT(ktest_kfree_panics(p - 64));     /* the canary bytes before it */
    KT_ASSERT(ktest_kfree_panics(p + 64 + 8)); /* in the guard page */
    KT_ASSERT_EQ(stats().bugs, s0.bugs + 3);
    KT_ASSERT_EQ(stats().live, s0.live + 1); /* untouched by the bad frees */
    kfree(p);
    KT_ASSERT_EQ(stats().live, s0.live);
}

KTEST(kfence_canary_write_is_found_on_free)
{
    struct kfence_stats s0 = stats();
    uint8_t *p = sample(20); /* 12 bytes of alignment gap after it */
    NEED_KFENCE(p);
    uint8_t saved = p[21];
    p[21] ^= 0xff; /* within the page: no fault, a changed canary byte */
    KT_ASSERT_EQ(kfence_check(), -E_CORRUPT);
    KT_ASSERT_EQ(kheap_check(), -E_CORRUPT); /* the heap's checker sees it too */
    KT_ASSERT(ktest_kfree_panics(p));
    KT_ASSERT_EQ(stats().bugs, s0.bugs + 3);
    p[21] = saved;
    KT_ASSERT_EQ(kfence_check(), 0);
    kfree(p);
    KT_ASSERT_EQ(stats().live, s0.live);
}

KTEST(kfence_krealloc_moves_the_contents)
{
    struct kfence_stats s0 = stats();
    uint8_t *p = sample(100);
    NEED_KFENCE(p);
    for (int i = 0; i < 100; i++)
        p[i] = (uint8_t)i;
    uint8_t *q = krealloc(p, 3000);
    KT_ASSERT(q != NULL && q != p);
    KT_ASSERT(!mapped(p));
    for (int i = 0; i < 100; i++)
        KT_ASSERT_EQ(q[i], (uint8_t)i);
    q = krealloc(q, 10);
    KT_ASSERT(q != NULL);
    KT_ASSERT_EQ(q[9], 9);
    kfree(q);
    uint8_t *z = sample(10);
    KT_ASSERT(kfence_owns(z));
    KT_ASSERT(krealloc(z, 0) == NULL); /* size 0 frees */
    KT_ASSERT_EQ(stats().live, s0.live);
}

KTEST(kfence_samples_about_one_in_n)
{
    if (!kfence_interval())
        return;
    uint64_t saved = kfence_interval();
    kfence_set_interval(10);
    unsigned hits = 0;
    for (int i = 0; i < 5000; i++) {
        void *p = kmalloc(16 + (size_t)(i % 200));
        KT_ASSERT(p != NULL);
        hits += kfence_owns(p);
        kfree(p);
    }
    kfence_set_interval(saved);
    printk("  %u of 5000 allocations sampled at an interval of 10\n", hits);
    KT_ASSERT(hits >= 350 && hits <= 650);
    kfence_set_interval(0); /* off: none */
    for (int i = 0; i < 1000; i++) {
        void *p = kmalloc(32);
        hits += kfence_owns(p);
        kfree(p);
    }
    kfence_set_interval(saved);
    KT_ASSERT(hits <= 650);
}

KTEST(kfence_full_pool_and_big_objects_go_to_the_heap)
{
    if (!kfence_interval())
        return;
    struct kfence_stats s0 = stats();
    uint64_t saved = kfence_interval();
    enum { N = KFENCE_SLOTS + 16 };
    void *p[N];
    unsigned owned = 0;
    kfence_set_interval(1); /* every allocation */
    for (int i = 0; i < N; i++) {
        p[i] = kmalloc(16);
        owned += p[i] && kfence_owns(p[i]);
    }
    void *big = kmalloc(PAGE_SIZE + 1);
    kfence_set_interval(saved);
    for (int i = 0; i < N; i++) {
        KT_ASSERT(p[i] != NULL);
        kfree(p[i]);
    }
    KT_ASSERT(big != NULL && !kfence_owns(big));
    kfree(big);
    KT_ASSERT_EQ(owned, s0.slots - s0.live);
    KT_ASSERT(stats().pool_full >= s0.pool_full + N - owned);
    KT_ASSERT_EQ(stats().too_big, s0.too_big + 1);
    KT_ASSERT_EQ(stats().live, s0.live);
    KT_ASSERT_EQ(kheap_check(), 0);
}

/* Named for the heap_ prefix, and linked after heap_ktest.c, so that a
 * `test=heap_ heap_sample=N` boot runs it after every heap test: with
 * sampling on, those tests must have gone through the pool. */
KTEST(heap_zz_sampling_reached_kfence)
{
    kfence_print_stats();
    if (kfence_interval() && kfence_interval() < 100)
        KT_ASSERT(stats().allocs > 0 && stats().frees > 0);
    KT_ASSERT_EQ(kfence_check(), 0);
}
