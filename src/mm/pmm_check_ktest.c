/*
 * In-kernel tests of freed-frame checking on the real PMM. Each test turns
 * checking on for itself when the boot did not (`pmm_check=1`), and back
 * off after, so `test=pmm_check_` works either way.
 *
 * They see a write after free through pmm_check_probe, which reports what
 * the next allocation would panic about, and then put the pattern back: a
 * panic here would print "PANIC", which `test=pmm_` boots (this prefix is
 * theirs too) rightly reject. The panic itself is tested on the host
 * (tests/host/test_pmm_check.c) and by `fault=frame-uaf`.
 */
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/pmm.h>
#include <pagoda/pmm_check.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

static void *own_bitmap;

/* Checking on for this test; true if it was the boot's already. */
static bool check_on(void)
{
    if (pmm_check_enabled())
        return true;
    own_bitmap = vmm_alloc(pmm_check_bitmap_bytes(), VMM_WRITE | VMM_NX);
    if (own_bitmap)
        pmm_check_enable(own_bitmap);
    return false;
}

static void check_restore(bool was)
{
    if (was || !own_bitmap)
        return;
    pmm_check_disable();
    vmm_free(own_bitmap);
    own_bitmap = NULL;
}

static uint64_t word_at(paddr_t pa, size_t off)
{
    uint64_t *w = vmm_map_temp(pa);
    uint64_t v = w[off / 8];
    vmm_unmap_temp(w);
    return v;
}

static void poke(paddr_t pa, size_t off, uint64_t v)
{
    uint64_t *w = vmm_map_temp(pa);
    w[off / 8] = v;
    vmm_unmap_temp(w);
}

KTEST(pmm_check_freed_frame_holds_the_pattern)
{
    bool was = check_on();
    KT_ASSERT(pmm_check_enabled());
    struct pmm_check_stats s0, s1;
    paddr_t pa = (paddr_t)pmm_alloc(1);
    KT_ASSERT(pa != 0);
    pmm_check_get_stats(&s0);
    poke(pa, 0, 0x1234);
    pmm_free((void *)pa, 1);
    pmm_check_get_stats(&s1);
    KT_ASSERT_EQ(s1.filled, s0.filled + 1);
    KT_ASSERT_EQ(s1.pending, s0.pending + 1);
    KT_ASSERT_EQ(word_at(pa, 0), PMM_CHECK_PATTERN);
    KT_ASSERT_EQ(word_at(pa, PAGE_SIZE - 8), PMM_CHECK_PATTERN);
    KT_ASSERT_EQ(pmm_check_probe(pa), 0);
    /* Handed out again: verified, and the bit is gone. */
    paddr_t again = (paddr_t)pmm_alloc(1);
    KT_ASSERT_EQ(again, pa);
    pmm_check_get_stats(&s1);
    KT_ASSERT_EQ(s1.verified, s0.verified + 1);
    KT_ASSERT_EQ(s1.pending, s0.pending);
    pmm_free((void *)pa, 1);
    check_restore(was);
}

KTEST(pmm_check_write_after_free_is_caught)
{
    bool was = check_on();
    KT_ASSERT(pmm_check_enabled());
    struct pmm_stats p0, p1;
    pmm_get_stats(&p0);
    paddr_t pa = (paddr_t)pmm_alloc(1);
    KT_ASSERT(pa != 0);
    pmm_free((void *)pa, 1);
    poke(pa, 0x100, 0x41); /* a write through a stale mapping */
    KT_ASSERT_EQ(pmm_check_probe(pa), 0x101);
    KT_ASSERT_EQ(pmm_check_probe(pa + 0x100), 0x101); /* any address in the frame */
    poke(pa, 0x100, PMM_CHECK_PATTERN);
    KT_ASSERT_EQ(pmm_check_probe(pa), 0);
    KT_ASSERT_EQ((paddr_t)pmm_alloc(1), pa); /* intact again: handed out quietly */
    pmm_free((void *)pa, 1);
    pmm_get_stats(&p1);
    KT_ASSERT_EQ(p1.free_pages, p0.free_pages);
    check_restore(was);
}

KTEST(pmm_check_allocz_verifies_then_zeroes)
{
    bool was = check_on();
    KT_ASSERT(pmm_check_enabled());
    struct pmm_check_stats s0, s1;
    paddr_t pa = (paddr_t)pmm_alloc(2);
    KT_ASSERT(pa != 0);
    pmm_free((void *)pa, 2);
    pmm_check_get_stats(&s0);
    paddr_t z = (paddr_t)pmm_allocz(2);
    KT_ASSERT_EQ(z, pa);
    pmm_check_get_stats(&s1);
    KT_ASSERT_EQ(s1.verified, s0.verified + 2);
    KT_ASSERT_EQ(word_at(z, 0), 0);
    KT_ASSERT_EQ(word_at(z + PAGE_SIZE, PAGE_SIZE - 8), 0);
    pmm_free((void *)z, 2);
    check_restore(was);
}

KTEST(pmm_check_runs_and_aligned_allocations)
{
    bool was = check_on();
    KT_ASSERT(pmm_check_enabled());
    struct pmm_stats p0, p1;
    pmm_get_stats(&p0);
    paddr_t a = (paddr_t)pmm_alloc_aligned(8, 8);
    KT_ASSERT(a != 0);
    pmm_free((void *)a, 8);
    for (int i = 0; i < 8; i++)
        KT_ASSERT_EQ(pmm_check_probe(a + (paddr_t)i * PAGE_SIZE), 0);
    poke(a + 5 * PAGE_SIZE, PAGE_SIZE - 8, 0); /* the last word of frame 5 */
    KT_ASSERT_EQ(pmm_check_probe(a + 5 * PAGE_SIZE), PAGE_SIZE - 7);
    KT_ASSERT_EQ(pmm_check_probe(a + 4 * PAGE_SIZE), 0);
    poke(a + 5 * PAGE_SIZE, PAGE_SIZE - 8, PMM_CHECK_PATTERN);
    struct pmm_check_stats c0, c1;
    pmm_check_get_stats(&c0);
    KT_ASSERT_EQ((paddr_t)pmm_alloc_aligned(8, 8), a);
    pmm_check_get_stats(&c1);
    KT_ASSERT_EQ(c1.verified, c0.verified + 8);
    pmm_free((void *)a, 8);
    pmm_get_stats(&p1);
    KT_ASSERT_EQ(p1.free_pages, p0.free_pages);
    /* The heap keeps working over checked frames. */
    void *big = kmalloc(MiB(1));
    KT_ASSERT(big != NULL);
    memset(big, 1, MiB(1));
    kfree(big);
    KT_ASSERT_EQ(kheap_check(), 0);
    check_restore(was);
}
