/*
 * Host tests of the kernel-facing PMM (src/mm/pmm.c, <pagoda/pmm.h>): the
 * real pmm_init over a stivale2 struct, the panics of pmm_free, the frame-
 * access hooks and the bitmap move. pmm.c reaches RAM through the identity
 * map, so the fake "RAM" is host memory mapped at its own physical address
 * (1 GiB up). The tests share one PMM and run in file order.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/errno.h>
#include <pagoda/pmm.h>

#define RAM_BASE 0x40000000ULL
#define RAM_SIZE MiB(16)
#define RECLAIM_SIZE MiB(1)

static struct {
    struct stivale2_struct_tag_memmap tag;
    struct stivale2_mmap_entry e[5];
} memmap = {
    .tag = {.tag = {STIVALE2_STRUCT_TAG_MEMMAP_ID, 0}, .entries = 5},
    .e =
        {
            {0, 0x9fc00, STIVALE2_MMAP_USABLE, 0},
            {0xf0000, 0x10000, STIVALE2_MMAP_RESERVED, 0},
            {0x100000, 0x100000, STIVALE2_MMAP_KERNEL_AND_MODULES, 0},
            {RAM_BASE, RAM_SIZE, STIVALE2_MMAP_USABLE, 0},
            {RAM_BASE + RAM_SIZE, RECLAIM_SIZE, STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE, 0},
        },
};
static struct stivale2_struct info;
static bool ram_ok;

static struct pmm_stats stats(void)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    return st;
}

HTEST(pmm_api_init)
{
    void *ram = mmap((void *)RAM_BASE, RAM_SIZE + RECLAIM_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(ram == (void *)RAM_BASE);
    ram_ok = true;
    info.tags = (uint64_t)(uintptr_t)&memmap.tag;
    pmm_init(&info);
    struct pmm_stats st = stats();
    CHECK_EQ(st.usable_pages, 0x9f + (RAM_SIZE >> 12));
    /* 0x41100 frames: 33312 + 528 + 16 bytes for the core, 33312 for the
     * frame caches' cached bits, each rounded up to pages. */
    CHECK_EQ(st.bitmap_bytes, 36864 + 36864);
    CHECK_EQ(st.bitmap_phys, RAM_BASE + RAM_SIZE - st.bitmap_bytes);
    CHECK_EQ(st.free_pages, (RAM_SIZE - st.bitmap_bytes) >> 12);
    CHECK_EQ(st.used_pages, st.usable_pages - st.free_pages);
    CHECK_EQ(st.reserved_pages, 0x41100 - st.usable_pages);
    paddr_t phys;
    size_t bytes;
    pmm_bitmap_location(&phys, &bytes);
    CHECK_EQ(phys, st.bitmap_phys);
    CHECK_EQ(bytes, st.bitmap_bytes);
    CHECK(EXPECT_PANIC(pmm_init(&info))); /* only once */
}

HTEST(pmm_api_alloc_kinds)
{
    CHECK(ram_ok);
    uint64_t start = stats().free_pages;
    CHECK(pmm_alloc(0) == NULL);
    CHECK(pmm_alloc(start + 1) == NULL);
    void *p = pmm_alloc(1);
    CHECK_EQ((uintptr_t)p, RAM_BASE);
    CHECK(!pmm_frame_is_free(RAM_BASE));
    void *a = pmm_alloc_aligned(512, 512);
    CHECK_EQ((uintptr_t)a, RAM_BASE + MiB(2));
    CHECK(pmm_alloc_below(1, RAM_BASE) == NULL); /* only the low 1 MiB is there */
    void *b = pmm_alloc_below(2, RAM_BASE + 0x3000);
    CHECK_EQ((uintptr_t)b, RAM_BASE + 0x1000);
    pmm_free(b, 2);
    pmm_free(a, 512);
    pmm_free(p, 1);
    CHECK_EQ(stats().free_pages, start);
}

HTEST(pmm_api_allocz_zeroes)
{
    CHECK(ram_ok);
    uint8_t *p = pmm_alloc(2);
    CHECK(p != NULL);
    memset(p, 0xa5, 2 * PAGE_SIZE);
    pmm_free(p, 2);
    uint8_t *z = pmm_allocz(2);
    CHECK(z == p);
    for (size_t i = 0; i < 2 * PAGE_SIZE; i++)
        CHECK_EQ(z[i], 0);
    pmm_free(z, 2);
}

HTEST(pmm_api_free_panics_name_the_address)
{
    CHECK(ram_ok);
    uint64_t start = stats().free_pages;
    void *p = pmm_alloc(1);
    pmm_free(p, 1);
    CHECK(EXPECT_PANIC(pmm_free(p, 1)));
    CHECK(strstr(htest_panic_msg, "0x40000000") && strstr(htest_panic_msg, "double free"));
    CHECK(EXPECT_PANIC(pmm_free((void *)(RAM_BASE + 12), 1)));
    CHECK(strstr(htest_panic_msg, "0x4000000c") && strstr(htest_panic_msg, "aligned"));
    CHECK(EXPECT_PANIC(pmm_free((void *)0x100000, 1)));
    CHECK(strstr(htest_panic_msg, "0x100000") && strstr(htest_panic_msg, "never usable"));
    CHECK(EXPECT_PANIC(pmm_free((void *)0x80000000ULL, 1)));
    CHECK(strstr(htest_panic_msg, "0x80000000") && strstr(htest_panic_msg, "outside"));
    CHECK_EQ(pmm_free_checked(p, 1), -E_DOUBLE);
    CHECK_EQ(stats().free_pages, start);
}

static int maps, unmaps;
static void *count_map(paddr_t pa)
{
    maps++;
    return (void *)(uintptr_t)pa;
}
static void count_unmap(void *va)
{
    unmaps++;
}

HTEST(pmm_api_frame_access_hooks)
{
    CHECK(ram_ok);
    pmm_set_frame_access(count_map, count_unmap);
    void *z = pmm_allocz(3);
    CHECK(z != NULL);
    CHECK_EQ(maps, 3);
    CHECK_EQ(unmaps, 3);
    pmm_free(z, 3);
    pmm_set_frame_access(NULL, NULL); /* back to the identity map */
    z = pmm_allocz(1);
    CHECK_EQ(maps, 3);
    pmm_free(z, 1);
}

HTEST(pmm_api_bitmap_move)
{
    CHECK(ram_ok);
    paddr_t phys;
    size_t bytes;
    pmm_pcp_flush(); /* the lowest frames back from this thread's cache */
    pmm_bitmap_location(&phys, &bytes);
    void *copy = malloc(bytes);
    memcpy(copy, (void *)(uintptr_t)phys, bytes);
    memset((void *)(uintptr_t)phys, 0xff, bytes); /* the old place is garbage now */
    pmm_bitmap_move(copy);
    uint64_t start = stats().free_pages;
    void *p = pmm_alloc(5);
    CHECK_EQ((uintptr_t)p, RAM_BASE);
    pmm_free(p, 5);
    CHECK_EQ(stats().free_pages, start);
    pmm_bitmap_location(&phys, &bytes); /* still the physical place */
    CHECK_EQ(phys, RAM_BASE + RAM_SIZE - bytes);
    memcpy((void *)(uintptr_t)phys, copy, bytes);
    pmm_bitmap_move((void *)(uintptr_t)phys);
    free(copy);
}

HTEST(pmm_api_reclaim)
{
    CHECK(ram_ok);
    struct pmm_stats before = stats();
    CHECK_EQ(pmm_free_checked((void *)(RAM_BASE + RAM_SIZE), 1), -E_BADFREE);
    pmm_reclaim_bootloader();
    struct pmm_stats after = stats();
    CHECK_EQ(after.free_pages, before.free_pages + (RECLAIM_SIZE >> 12));
    CHECK_EQ(after.usable_pages, before.usable_pages + (RECLAIM_SIZE >> 12));
    CHECK(pmm_frame_is_free(RAM_BASE + RAM_SIZE));
    CHECK_EQ(pmm_free_checked((void *)(RAM_BASE + RAM_SIZE), 1), -E_DOUBLE); /* allocatable */
    pmm_reclaim_bootloader(); /* a second call frees nothing */
    CHECK_EQ(stats().free_pages, after.free_pages);
}
