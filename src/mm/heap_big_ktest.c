/*
 * In-kernel tests of the per-CPU fronts for big blocks (heap_big.c) over the
 * real heap: at level 0, a pair of a size that repeats reuses its block
 * with no list allocation and no page-source call, and a second free of a
 * kept block, or of a reused one, still panics; hardened, nothing is kept.
 * Each test leaves the heap's figures where it found them.
 */
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>

#define BIG 350000

/* Pairs of one size, so that the front keeps its block. */
static void warm(size_t n)
{
    for (int i = 0; i < 40; i++) {
        uint8_t *p = kmalloc(n);
        if (p) {
            p[0] = p[n - 1] = 1;
            kfree(p);
        }
    }
}

KTEST(bigfront_pair_reuses_its_block)
{
    static struct kheap_stats a, b, c; /* static: the frame bound */
    kheap_stats(&a);
    printk("bigfront: hardening %d\n", a.harden);
    warm(BIG);
    uint8_t *p = kmalloc(BIG);
    KT_ASSERT(p != NULL);
    kfree(p);
    kheap_stats(&b);
    if (a.harden) {
        KT_ASSERT_EQ(b.big_kept_bytes, 0);
    } else {
        KT_ASSERT(b.big_kept_bytes >= BIG);
        for (int i = 0; i < 100; i++) {
            uint8_t *q = kmalloc(BIG);
            KT_ASSERT(q == p);
            q[0] = q[BIG - 1] = (uint8_t)i;
            kfree(q);
        }
        kheap_stats(&c);
        KT_ASSERT_EQ(c.list_free_bytes, b.list_free_bytes);
        KT_ASSERT_EQ(c.list_used_blocks, b.list_used_blocks);
        KT_ASSERT_EQ(c.grows, b.grows);
        KT_ASSERT_EQ(c.shrinks, b.shrinks);
    }
    kheap_mag_drain();
    kheap_stats(&c);
    KT_ASSERT_EQ(c.big_kept_bytes, 0);
    KT_ASSERT_EQ(c.live_bytes, a.live_bytes);
    KT_ASSERT_EQ(c.live_objects, a.live_objects);
    KT_ASSERT_EQ(kheap_check(), 0);
}

KTEST(bigfront_double_free_panics)
{
    warm(BIG);
    uint8_t *p = kmalloc(BIG);
    KT_ASSERT(p != NULL);
    kfree(p); /* kept, at level 0 */
    KT_ASSERT(ktest_kfree_panics(p));
    uint8_t *q = kmalloc(BIG); /* the kept block again, at level 0 */
    KT_ASSERT(q != NULL);
    kfree(q);
    KT_ASSERT(ktest_kfree_panics(q));
    kheap_mag_drain();
    KT_ASSERT_EQ(kheap_check(), 0);
}
