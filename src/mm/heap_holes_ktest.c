/*
 * In-kernel test of span holes (heap_holes.c) over the real page source:
 * the free pages of a sparse span go back to the PMM while the span is in
 * use, a second free of a block on such a page is reported (not read), and
 * allocating the class again maps them back. Only level 0 (a normal
 * boot's) makes holes, so a boot case runs it with heap_harden=0; in the
 * self-test (hardened) it checks that none are made.
 */
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#define BLOCK 352 /* a class few kernel objects use; its blocks straddle pages */
#define NBLK 1500

static uint8_t *blk[NBLK];

KTEST(holes_give_frames_back_and_take_them_again)
{
    static struct kheap_stats h0, h1, h2; /* static: the frame bound */
    struct pmm_stats p0, p1;
    size_t nkept = 0;
    kheap_stats(&h0);
    for (int i = 0; i < NBLK; i++) {
        blk[i] = kmalloc(BLOCK);
        KT_ASSERT(blk[i] != NULL);
        memset(blk[i], (uint8_t)i, BLOCK);
    }
    /* One block per 32 KiB unit stays: the one starting on its page 5. */
    static uint8_t *kept[NBLK];
    for (int i = 0; i < NBLK; i++) {
        uintptr_t off = (uintptr_t)blk[i] & 0x7fff;
        if (off >= 0x5000 && off < 0x5000 + BLOCK) {
            kept[nkept++] = blk[i];
            blk[i] = NULL;
        }
    }
    KT_ASSERT(nkept >= 8);
    uint8_t *freed = NULL;
    for (int i = 0; i < NBLK; i++) {
        if (!blk[i])
            continue;
        uintptr_t off = (uintptr_t)blk[i] & 0x7fff;
        if (!freed && off >= 0x1000 && off + BLOCK <= 0x2000) /* all on page 1 */
            freed = blk[i];
        kfree(blk[i]);
    }
    KT_ASSERT(freed != NULL);
    kheap_mag_drain(); /* this CPU's magazines and the depot to the spans */
    kheap_stats(&h0);
    pmm_get_stats(&p0);
    kheap_release(false);
    kheap_stats(&h1);
    pmm_get_stats(&p1);
    size_t holes = h1.span_hole_bytes - h0.span_hole_bytes;
    printk("holes: %zu KiB of %zu sparse spans given back; PMM free %llu -> %llu pages\n",
           holes / 1024, nkept, (unsigned long long)p0.free_pages,
           (unsigned long long)p1.free_pages);
    if (h0.harden) { /* hardening keeps a header and poison in every free block: no holes */
        KT_ASSERT_EQ(holes, 0);
        KT_ASSERT(ktest_kfree_panics(freed)); /* the header's check word */
        for (size_t k = 0; k < nkept; k++)
            kfree(kept[k]);
        KT_ASSERT_EQ(kheap_check(), 0);
        return;
    }
    KT_ASSERT(holes >= nkept * 3 * PAGE_SIZE);
    KT_ASSERT(p1.free_pages + 16 >= p0.free_pages + holes / PAGE_SIZE);
    KT_ASSERT_EQ(kheap_check(), 0);
    for (size_t k = 0; k < nkept; k++)
        KT_ASSERT(kept[k][0] == kept[k][BLOCK - 1]);
    /* freed's page is gone: the second kfree is reported without a read. */
    KT_ASSERT(ktest_kfree_panics(freed));
    KT_ASSERT_EQ(kheap_check(), 0);
    /* The class again: the holes are mapped back as its blocks are needed. */
    for (int i = 0; i < NBLK; i++) {
        blk[i] = kmalloc(BLOCK);
        KT_ASSERT(blk[i] != NULL);
        memset(blk[i], 0x5a, BLOCK);
    }
    kheap_stats(&h2);
    KT_ASSERT(h2.span_hole_bytes < h1.span_hole_bytes);
    KT_ASSERT_EQ(kheap_check(), 0);
    for (int i = 0; i < NBLK; i++)
        kfree(blk[i]);
    for (size_t k = 0; k < nkept; k++)
        kfree(kept[k]);
    KT_ASSERT_EQ(kheap_check(), 0);
}
