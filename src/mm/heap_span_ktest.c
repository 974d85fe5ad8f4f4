/*
 * In-kernel tests of the heap's spans and its release policy over the real
 * page source: the classes from 2 KiB to 256 KiB are a pop and a push once
 * warm, and after a burst is freed the heap gives its frames back to the
 * PMM on its own (no kheap_trim), then reuses the decommitted pages.
 */
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/percpu.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const size_t medium[] = {2049,  2560,  3000,   4096,   5000,   8192,   12000,
                                16384, 30000, 65536 - 64, 100000, 131072, 200000, 262144};

KTEST(heap_medium_classes_pop_and_push)
{
    for (size_t i = 0; i < ARRAY_SIZE(medium); i++) {
        size_t n = medium[i];
        void *warm = kmalloc(n); /* the class's span exists from here on */
        KT_ASSERT(warm != NULL);
        /* One pair before the count: where a span holds a single block of
         * this class, the pair takes a second span, which stays kept for
         * the class once empty, whatever the earlier tests left behind. */
        kfree(kmalloc(n));
        static struct kheap_stats a, b; /* static: the frame bound */
        kheap_stats(&a);
        for (int k = 0; k < 1000; k++) {
            uint8_t *p = kmalloc(n);
            KT_ASSERT(p != NULL);
            p[0] = p[n - 1] = (uint8_t)k;
            KT_ASSERT(kmalloc_usable_size(p) >= n);
            kfree(p);
        }
        kheap_stats(&b);
        /* No list block, no page-source call: a pop and a push. */
        KT_ASSERT_EQ(b.list_used_blocks, a.list_used_blocks);
        KT_ASSERT_EQ(b.grows, a.grows);
        KT_ASSERT_EQ(b.shrinks, a.shrinks);
        kfree(warm);
    }
    KT_ASSERT_EQ(kheap_check(), 0);
}

#define BURST 12000

KTEST(heap_burst_memory_goes_back_on_its_own)
{
    void **p = kcalloc(BURST, sizeof(void *));
    uint16_t *n = kcalloc(BURST, sizeof(uint16_t));
    KT_ASSERT(p && n);
    struct pmm_stats ps0, ps1, ps2;
    static struct kheap_stats h0, h1, h2; /* static: the frame bound */
    pmm_get_stats(&ps0);
    kheap_stats(&h0);
    for (int i = 0; i < BURST; i++) {
        n[i] = (uint16_t)(8 + rnd() % 2041);
        p[i] = kmalloc(n[i]);
        KT_ASSERT(p[i] != NULL);
        memset(p[i], (uint8_t)i, n[i]);
    }
    kheap_stats(&h1);
    KT_ASSERT(h1.heap_bytes >= h0.heap_bytes + MiB(8));
    for (int i = BURST - 1; i > 0; i--) { /* free in random order */
        int j = (int)(rnd() % (uint64_t)(i + 1));
        void *t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    for (int i = 0; i < BURST; i++)
        kfree(p[i]);
    /* A second later this CPU would be idle: its idle loop drains what its
     * magazines hold (the spans they pin), as here. */
    kheap_idle_resume(); /* (the test runner pauses idle drains) */
    kheap_cpu_idle(this_cpu()->ticks + KHEAP_IDLE_DRAIN_TICKS);
    kheap_idle_pause();
    pmm_get_stats(&ps1);
    kheap_stats(&h1);
    printk("burst: heap held %zu KiB before, %zu KiB after (%zu runs, %zu KiB "
              "decommitted); PMM free %llu -> %llu pages\n",
              h0.heap_bytes / 1024, h1.heap_bytes / 1024, h1.releases,
              h1.decommitted_bytes / 1024, (unsigned long long)ps0.free_pages,
              (unsigned long long)ps1.free_pages);
    if (h1.heap_bytes > h0.heap_bytes + MiB(3))
        kheap_print_stats();
    KT_ASSERT(h1.releases > h0.releases);
    KT_ASSERT(h1.heap_bytes <= h0.heap_bytes + MiB(3));
    KT_ASSERT(ps1.free_pages + MiB(3) / PAGE_SIZE >= ps0.free_pages);
    KT_ASSERT_EQ(kheap_check(), 0);
    /* The decommitted pages are committed again on reuse. */
    for (int i = 0; i < BURST; i++) {
        p[i] = kmalloc(n[i]);
        KT_ASSERT(p[i] != NULL);
        memset(p[i], 0x5a, n[i]);
    }
    KT_ASSERT_EQ(kheap_check(), 0);
    for (int i = 0; i < BURST; i++)
        kfree(p[i]);
    kfree(p);
    kfree(n);
    kheap_stats(&h2);
    pmm_get_stats(&ps2);
    KT_ASSERT(h2.heap_bytes <= h0.heap_bytes + MiB(3));
    KT_ASSERT_EQ(kheap_check(), 0);
}
