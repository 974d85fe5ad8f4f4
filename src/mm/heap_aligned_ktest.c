/*
 * In-kernel tests of aligned small blocks (kmalloc_aligned; src/mm/block.c) over the
 * real page source: every kmalloc_aligned block is aligned at every level,
 * and at level 0 (a normal boot; 60-heap.sh boots this test with
 * heap_harden=0) a live one is a small block, not a list block (the host
 * test, tests/host/test_heap_aligned.c, covers the bad frees).
 */
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

static const size_t aligned_pairs[][2] = {
    {64, 64}, {100, 64}, {4096, 4096}, {8192, 4096}, {1000, 32}, {16384, 4096},
};

KTEST(heap_aligned_small_blocks)
{
    static struct kheap_stats a, b; /* static: the frame bound */
    kheap_stats(&a);
    printk("heap_aligned: hardening %d\n", a.harden);
    for (size_t i = 0; i < ARRAY_SIZE(aligned_pairs); i++) {
        size_t n = aligned_pairs[i][0], al = aligned_pairs[i][1];
        kfree(kmalloc_aligned(n, al)); /* warm the class */
        kheap_stats(&a);
        static uint8_t *p[64];
        for (int k = 0; k < 64; k++) {
            p[k] = kmalloc_aligned(n, al);
            KT_ASSERT(p[k] != NULL && ((uintptr_t)p[k] & (al - 1)) == 0);
            memset(p[k], k, n);
        }
        kheap_stats(&b);
        if (a.harden == 0) /* small blocks: at most new spans, never 64 list blocks */
            KT_ASSERT(b.list_used_blocks - a.list_used_blocks < 64);
        for (int k = 0; k < 64; k++) {
            KT_ASSERT(p[k][0] == (uint8_t)k && p[k][n - 1] == (uint8_t)k);
            kfree(p[k]);
        }
        /* A pair on a warm class: no list block at level 0. (The first
         * allocation after the frees may make the class's magazine again:
         * a free with none wanted goes straight to the span.) */
        kfree(kmalloc_aligned(n, al));
        kheap_stats(&a);
        uint8_t *q = kmalloc_aligned(n, al);
        KT_ASSERT(q != NULL && ((uintptr_t)q & (al - 1)) == 0);
        kheap_stats(&b);
        if (a.harden == 0)
            KT_ASSERT_EQ(b.list_used_blocks, a.list_used_blocks);
        kfree(q);
    }
    KT_ASSERT_EQ(kheap_check(), 0);
}
