/*
 * Host tests of freed-frame checking (src/mm/pmm_check.c) through the real
 * pmm.c: the fake "RAM" is host memory mapped at its own physical address,
 * so the PMM's default frame access (the identity map) reaches it.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/pmm.h>
#include <pagoda/pmm_check.h>

#define RAM_BASE 0x50000000ULL
#define RAM_SIZE MiB(8)

static struct {
    struct stivale2_struct_tag_memmap tag;
    struct stivale2_mmap_entry e[1];
} memmap = {
    .tag = {.tag = {STIVALE2_STRUCT_TAG_MEMMAP_ID, 0}, .entries = 1},
    .e = {{RAM_BASE, RAM_SIZE, STIVALE2_MMAP_USABLE, 0}},
};
static struct stivale2_struct info;
static void *bitmap;

static uint64_t *frame(paddr_t pa)
{
    return (uint64_t *)(uintptr_t)pa;
}

HTEST(pmm_check_setup)
{
    void *ram = mmap((void *)RAM_BASE, RAM_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(ram == (void *)RAM_BASE);
    info.tags = (uint64_t)(uintptr_t)&memmap.tag;
    pmm_init(&info);
    CHECK(!pmm_check_enabled());
    /* One bit per frame from 0 to the top of RAM. */
    CHECK_EQ(pmm_check_bitmap_bytes(), ((RAM_BASE + RAM_SIZE) >> 12) / 8);
    bitmap = calloc(1, pmm_check_bitmap_bytes());
    pmm_check_enable(bitmap);
    CHECK(pmm_check_enabled());
}

HTEST(pmm_check_fill_and_verify)
{
    struct pmm_check_stats s;
    paddr_t pa = (paddr_t)pmm_alloc(3);
    CHECK(pa != 0);
    memset(frame(pa), 0x11, 3 * PAGE_SIZE);
    pmm_free((void *)pa, 3);
    pmm_check_get_stats(&s);
    CHECK_EQ(s.filled, 3);
    CHECK_EQ(s.pending, 3);
    for (size_t i = 0; i < 3 * PAGE_SIZE / 8; i++)
        CHECK_EQ(frame(pa)[i], PMM_CHECK_PATTERN);
    CHECK_EQ(pmm_check_probe(pa + PAGE_SIZE), 0);
    CHECK((paddr_t)pmm_alloc(3) == pa); /* clean: no panic */
    pmm_check_get_stats(&s);
    CHECK_EQ(s.verified, 3);
    CHECK_EQ(s.pending, 0);
    pmm_free((void *)pa, 3);
    CHECK((paddr_t)pmm_allocz(3) == pa); /* verified, then zeroed */
    CHECK_EQ(frame(pa)[5], 0);
    pmm_free((void *)pa, 3);
    /* A refused free fills nothing. */
    CHECK(pmm_free_checked((void *)pa, 1) != 0);
    pmm_check_get_stats(&s);
    CHECK_EQ(s.filled, 9);
}

HTEST(pmm_check_write_after_free_panics)
{
    paddr_t pa = (paddr_t)pmm_alloc(1);
    CHECK(pa != 0);
    pmm_free((void *)pa, 1);
    frame(pa)[100] = 42; /* a stale pointer writes */
    CHECK_EQ(pmm_check_probe(pa), 801);
    CHECK(EXPECT_PANIC(pmm_alloc(1)));
    CHECK(strstr(htest_panic_msg, "written after it was freed") != NULL);
    CHECK(strstr(htest_panic_msg, "offset 0x320") != NULL);
    CHECK(!pmm_frame_is_free(pa)); /* the core had taken it */
    pmm_free((void *)pa, 1);
    /* The other allocation paths check too (they take frames from the
     * core: the flush puts the single frame back there). */
    pmm_pcp_flush();
    frame(pa)[511] = 0;
    CHECK(EXPECT_PANIC(pmm_alloc_below(1, RAM_BASE + RAM_SIZE)));
    pmm_free((void *)pa, 1);
    pmm_pcp_flush();
    frame(pa)[0] = 0;
    CHECK(EXPECT_PANIC(pmm_allocz(1)));
    pmm_free((void *)pa, 1);
    pmm_pcp_flush();
    frame(pa)[1] = 0;
    CHECK(EXPECT_PANIC(pmm_alloc_aligned(1, 1)));
    pmm_free((void *)pa, 1);
}

HTEST(pmm_check_off_fills_nothing)
{
    pmm_check_disable();
    paddr_t pa = (paddr_t)pmm_alloc(1);
    frame(pa)[0] = 7;
    pmm_free((void *)pa, 1);
    CHECK_EQ(frame(pa)[0], 7);
    frame(pa)[1] = 0;
    CHECK((paddr_t)pmm_alloc(1) == pa); /* no check, no panic */
    pmm_free((void *)pa, 1);
    free(bitmap);
}
