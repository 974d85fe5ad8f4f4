/*
 * Host tests of aligned small blocks (kmalloc_aligned; src/mm/block.c): an aligned
 * request of 32 B..4 KiB alignment is a pop and a push on a span of a
 * class laid out for it (no list block), every block it hands out is
 * aligned, the always-on checks still catch a double free and a free of a
 * pointer inside such a span, and plain and aligned requests of one class
 * mix without breaking the heap's invariants.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/kmalloc.h>
#include <pagoda/printk.h>

#include "../../src/mm/heap_internal.h" /* block_aligned_class and its table */
#include "harness.h"
#include "heap_fixture.h"

#define REGION_BYTES (1ULL << 30)

static struct heap_region hr;

static void setup(int harden)
{
    heap_region_init(&hr, heap_fixture_region(REGION_BYTES), REGION_BYTES);
    kheap_init(&hr.src, harden);
}

static const size_t pairs[][2] = {
    {64, 64}, {100, 64}, {4096, 4096}, {8192, 4096}, {1000, 32}, {3000, 1024}, {16384, 4096},
};

HTEST(heap_aligned_pairs_are_small_blocks)
{
    setup(0);
    for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
        size_t n = pairs[i][0], a = pairs[i][1];
        kfree(kmalloc_aligned(n, a)); /* warm the class */
        struct kheap_stats s0, s1;
        kheap_stats(&s0);
        for (int k = 0; k < 1000; k++) {
            uint8_t *p = kmalloc_aligned(n, a);
            CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0);
            CHECK(kmalloc_usable_size(p) >= n);
            p[0] = p[n - 1] = 1;
            if (k == 0) { /* live now: a small block, not a list block */
                kheap_stats(&s1);
                CHECK_EQ(s1.list_used_blocks, s0.list_used_blocks);
            }
            kfree(p);
        }
        kheap_stats(&s1);
        CHECK_EQ(s1.list_used_blocks, s0.list_used_blocks); /* no new span */
        CHECK_EQ(s1.grows, s0.grows);
    }
    CHECK_EQ(kheap_check(), 0);
}

/* Many live aligned blocks: every one aligned, none overlapping, each a
 * small block (the list allocator holds only spans). */
HTEST(heap_aligned_many_live)
{
    setup(0);
    enum { N = 3000 };
    static uint8_t *p[N];
    for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
        size_t n = pairs[i][0], a = pairs[i][1];
        for (int k = 0; k < N; k++) {
            p[k] = kmalloc_aligned(n, a);
            CHECK(p[k] != NULL && ((uintptr_t)p[k] & (a - 1)) == 0);
            memset(p[k], (uint8_t)k, n);
        }
        for (int k = 0; k < N; k++) {
            CHECK(p[k][0] == (uint8_t)k && p[k][n - 1] == (uint8_t)k);
            if (k % 3 == 0) {
                kfree(p[k]);
                p[k] = NULL;
            }
        }
        CHECK_EQ(kheap_check(), 0);
        for (int k = 0; k < N; k++)
            kfree(p[k]);
        CHECK_EQ(kheap_check(), 0);
    }
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK_EQ(st.live_bytes, 0);
}

/* Plain and aligned requests of one class, interleaved, with a kept
 * empty span rebased in place. */
HTEST(heap_aligned_and_plain_mix)
{
    setup(0);
    kfree(kmalloc(64)); /* the 64 B class keeps one empty span, not aligned */
    static uint8_t *p[4000];
    uint64_t r = 12345;
    for (int round = 0; round < 20; round++) {
        for (int k = 0; k < 4000; k++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            if (p[k] && (r >> 60) < 8) {
                kfree(p[k]);
                p[k] = NULL;
            } else if (!p[k]) {
                p[k] = (r >> 59) & 1 ? kmalloc_aligned(64, 64) : kmalloc(64);
                CHECK(p[k] != NULL);
                memset(p[k], 0x5a, 64);
            }
        }
        CHECK_EQ(kheap_check(), 0);
    }
    for (int k = 0; k < 4000; k++) {
        if (p[k])
            CHECK(p[k][0] == 0x5a && p[k][63] == 0x5a);
        kfree(p[k]);
    }
    CHECK_EQ(kheap_check(), 0);
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK_EQ(st.live_bytes, 0);
}

HTEST(heap_aligned_bad_frees_caught)
{
    setup(0);
    uint8_t *a = kmalloc_aligned(4096, 4096), *keep = kmalloc_aligned(4096, 4096);
    CHECK(((uintptr_t)a & 4095) == 0 && ((uintptr_t)keep & 4095) == 0);
    kfree(a);
    CHECK(EXPECT_PANIC(kfree(a)));
    CHECK(strstr(htest_panic_msg, "double free") != NULL);
    CHECK(EXPECT_PANIC(kfree(keep + 64)));
    CHECK(strstr(htest_panic_msg, "never returned") != NULL);
    /* Where the span's blocks started before it was laid out for 4 KiB. */
    CHECK(EXPECT_PANIC(kfree((uint8_t *)((uintptr_t)keep & ~(uintptr_t)(KiB(32) - 1)) + 16)));
    CHECK(strstr(htest_panic_msg, "never returned") != NULL);
    kfree(keep);
    CHECK_EQ(kheap_check(), 0);
}

/* Hardening: the list allocator serves (blocks with headers cannot all be
 * aligned), still aligned, still checked. */
HTEST(heap_aligned_hardened_still_aligned)
{
    for (int harden = 1; harden <= 2; harden++) {
        setup(harden);
        for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
            uint8_t *p = kmalloc_aligned(pairs[i][0], pairs[i][1]);
            CHECK(p != NULL && ((uintptr_t)p & (pairs[i][1] - 1)) == 0);
            memset(p, 1, pairs[i][0]);
            kfree(p);
        }
        CHECK_EQ(kheap_check(), 0);
    }
}

/* kmalloc_aligned's class from the table (block_aligned_class) is the one
 * the rule names: the smallest class at least the request whose size align
 * divides, if it wastes at most a quarter or is no bigger than align. Every
 * size up to the small classes' top, every alignment from 32 B to 8 KiB. */
static unsigned aligned_class_by_the_rule(size_t size, size_t align)
{
    if (align > PAGE_SIZE)
        return KHEAP_NCLASSES;
    size = size ? size : 1;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        size_t cs = heap_class_size[c];
        if (cs < size || cs % align)
            continue;
        return cs * 3 <= size * 4 || cs <= align ? c : KHEAP_NCLASSES;
    }
    return KHEAP_NCLASSES;
}

HTEST(heap_aligned_class_table_follows_the_rule)
{
    setup(0);
    unsigned served = 0;
    for (size_t align = 32; align <= 2 * PAGE_SIZE; align *= 2)
        for (size_t size = 0; size < kheap.small_limit; size++) {
            unsigned want = aligned_class_by_the_rule(size, align);
            unsigned got = block_aligned_class(size, align);
            if (got != want) {
                CHECK_EQ(got, want);
            }
            served += got < KHEAP_NCLASSES;
        }
    CHECK(served > 0);
}
