/*
 * Host tests of the heap's always-on free checks (hardening level 0, a
 * normal boot) and of the heap's answers to wild pointers: every kind of
 * block catches a double free and a free of a pointer it never returned,
 * reports print only what the heap verified, and nothing is read through a
 * pointer before the heap's own structures vouch for it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/errno.h>
#include <pagoda/kmalloc.h>
#include <pagoda/slab.h>

#include "harness.h"
#include "heap_fixture.h"

#define REGION_BYTES (256ULL << 20)

static struct heap_region hr;

static void setup(int harden)
{
    heap_region_init(&hr, heap_fixture_region(REGION_BYTES), REGION_BYTES);
    kheap_init(&hr.src, harden);
}

static bool said(const char *what)
{
    return strstr(htest_panic_msg, what) != NULL;
}

/* Every small class at level 0: a double free and an interior pointer. */
HTEST(heap_level0_small_double_and_interior_free)
{
    setup(0);
    for (volatile size_t n = 1; n <= KHEAP_SMALL_MAX; n += (n < 256 ? 15 : 97)) {
        char *keep = kmalloc(n), *p = kmalloc(n);
        CHECK(keep && p);
        kfree(p);
        CHECK(EXPECT_PANIC(kfree(p)));
        CHECK(said("double free"));
        CHECK(said("class"));
        CHECK(said("-byte block"));
        p = kmalloc(n);
        if (kmalloc_usable_size(p) >= 32) {
            CHECK(EXPECT_PANIC(kfree(p + 16)));
            CHECK(said("never returned"));
        }
        CHECK(EXPECT_PANIC(kfree(p + 1)));
        kfree(p);
        kfree(keep);
        CHECK_EQ(kheap_check(), 0);
    }
}

/* Live data equal to the free key (read here from a freed neighbour of
 * the same span) costs the free-list walk, never a false report; a second
 * free of that block is still a double free. */
HTEST(heap_level0_live_data_equal_to_the_free_key)
{
    setup(0);
    for (volatile size_t n = 16; n <= KHEAP_SMALL_MAX; n += (n < 256 ? 16 : 240)) {
        char *keep = kmalloc(n), *p = kmalloc(n), *q = kmalloc(n);
        CHECK(keep && p && q);
        kfree(q);
        uint64_t key;
        memcpy(&key, q + 8, 8); /* the region is ours: reading a free block is safe */
        CHECK(key != 0);
        memcpy(p + 8, &key, 8);
        kfree(p); /* must not panic */
        CHECK(EXPECT_PANIC(kfree(p)));
        CHECK(said("double free"));
        kfree(keep);
        CHECK_EQ(kheap_check(), 0);
    }
}

/* A block that is carved but was never handed out, at level 0. */
HTEST(heap_level0_free_of_a_block_never_handed_out)
{
    setup(0);
    char *p = kmalloc(64);
    size_t stride = kmalloc_usable_size(p);
    /* LIFO carving: the next block handed out sits below or above p. */
    char *q = kmalloc(64);
    char *never = q > p ? q + stride : q - stride;
    CHECK(EXPECT_PANIC(kfree(never)));
    CHECK(said("64-byte block"));
    kfree(p);
    kfree(q);
    CHECK_EQ(kheap_check(), 0);
}

/* List blocks and aligned blocks at level 0. */
HTEST(heap_level0_list_and_aligned_double_free)
{
    setup(0);
    static const size_t sizes[] = {70000, 100000, 300000, 1000000};
    for (volatile unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *a = kmalloc(sizes[i]), *b = kmalloc(sizes[i]), *c = kmalloc(sizes[i]);
        kfree(b); /* merges with nothing: a and c are live */
        CHECK(EXPECT_PANIC(kfree(b)));
        CHECK(said("double free"));
        kfree(a); /* a and b merge: b's header is now inside a free block */
        CHECK(EXPECT_PANIC(kfree(b)));
        /* Its page may even be decommitted: then it is not read at all. */
        CHECK(said("double free") || said("never returned"));
        CHECK(EXPECT_PANIC(kfree(c + 512)));
        CHECK(said("never returned"));
        kfree(c);
        CHECK_EQ(kheap_check(), 0);
    }
    /* A fresh heap: the big blocks above wait in this CPU's front, idle
     * memory to the release policy, whose runs may decommit the page an
     * aligned block's header sits on once it merges. */
    setup(0);
    static const size_t aligns[] = {32, 64, 4096, 65536};
    for (volatile unsigned i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
        char *a = kmalloc_aligned(100, aligns[i]), *keep = kmalloc_aligned(100, aligns[i]);
        CHECK(((uintptr_t)a & (aligns[i] - 1)) == 0);
        kfree(a);
        CHECK(EXPECT_PANIC(kfree(a)));
        CHECK(said("double free"));
        CHECK(EXPECT_PANIC(kfree(keep + 16)));
        kfree(keep);
        CHECK_EQ(kheap_check(), 0);
    }
}

/* Slab objects, on-slab and off-slab, in a level-0 heap. */
HTEST(heap_level0_slab_double_and_invalid_free)
{
    setup(0);
    struct kmem_cache *s = kmem_cache_create("t_small", 48, 0, NULL, NULL);
    struct kmem_cache *l = kmem_cache_create("t_large", 2000, 0, NULL, NULL);
    char *a = kmem_cache_alloc(s), *b = kmem_cache_alloc(l);
    kmem_cache_free(s, a);
    CHECK(EXPECT_PANIC(kmem_cache_free(s, a)));
    CHECK(said("double free") && said("t_small") && said("size 48"));
    kmem_cache_free(l, b);
    CHECK(EXPECT_PANIC(kmem_cache_free(l, b)));
    CHECK(said("t_large") && said("size 2000"));
    a = kmem_cache_alloc(s);
    CHECK(EXPECT_PANIC(kmem_cache_free(s, a + 16)));
    CHECK(said("not an object start"));
    kmem_cache_free(s, a);
    kmem_cache_destroy(s);
    kmem_cache_destroy(l);
    CHECK_EQ(kheap_check(), 0);
}

/* A page source that leaves an inaccessible page before every segment, so
 * that reading in front of a segment, or in a gap, faults. */
static struct {
    struct heap_source src;
    uint8_t *base;
    size_t used, size;
} gappy;

static void *gappy_grow(struct heap_source *s, size_t bytes)
{
    if (gappy.used + bytes + 4096 > gappy.size)
        return NULL;
    uint8_t *p = gappy.base + gappy.used + 4096;
    mprotect(p, bytes, PROT_READ | PROT_WRITE);
    gappy.used += bytes + 4096;
    return p;
}

static void gappy_shrink(struct heap_source *s, void *p, size_t bytes)
{
    mprotect(p, bytes, PROT_NONE);
}

static void gappy_setup(int harden)
{
    if (!gappy.base) {
        gappy.size = 64 << 20;
        gappy.base = mmap(NULL, gappy.size, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (gappy.base == MAP_FAILED)
            abort();
    }
    mprotect(gappy.base, gappy.size, PROT_NONE);
    gappy.used = 0;
    gappy.src.grow = gappy_grow;
    gappy.src.shrink = gappy_shrink;
    kheap_init(&gappy.src, harden);
}

/* kfree of a wild pointer at a segment's start, or in the gap between two
 * segments, must be refused from the heap's own structures: reading through
 * it would fault here. */
HTEST(heap_wild_free_in_a_gap_or_at_a_segment_start)
{
    for (volatile int harden = 0; harden <= 1; harden++) {
        gappy_setup(harden);
        /* List blocks (above the largest class), two segments. */
        char *a = kmalloc(KHEAP_SMALL_MAX + 40000), *b = kmalloc(KHEAP_SMALL_MAX + 40000);
        CHECK(a && b);
        CHECK(b > a);
        uint8_t *seg1 = (uint8_t *)((uintptr_t)b & ~(uintptr_t)4095); /* b's segment */
        CHECK(seg1 > (uint8_t *)a + KHEAP_SMALL_MAX + 40000);
        CHECK(EXPECT_PANIC(kfree(seg1))); /* its header would sit in the guard page */
        CHECK(said("never returned"));
        CHECK(EXPECT_PANIC(kfree(gappy.base + 4096)));
        CHECK(EXPECT_PANIC(kfree(seg1 - 4096 + 64))); /* the gap */
        CHECK(said("outside every segment"));
        kfree(a);
        kfree(b);
        CHECK_EQ(kheap_check(), 0);
    }
}

/* A write after free that replaces a free list block's bin link: the
 * checker must report it, not follow it. */
HTEST(heap_check_reports_a_corrupt_bin_link)
{
    for (volatile int harden = 0; harden <= 1; harden++) {
        gappy_setup(harden);
        char *a = kmalloc(5000), *b = kmalloc(5000), *c = kmalloc(5000);
        kfree(b); /* a free list block between two live ones */
        kheap_mag_drain(); /* on its span's list, not in a magazine (no link there) */
        CHECK_EQ(kheap_check(), 0);
        uintptr_t saved;
        memcpy(&saved, b, sizeof(saved));
        uintptr_t wild = (uintptr_t)gappy.base + 16; /* the guard page: unreadable */
        memcpy(b, &wild, sizeof(wild));               /* the bin's `next` link */
        CHECK_EQ(kheap_check(), -E_CORRUPT);
        memcpy(b, &saved, sizeof(saved));
        CHECK_EQ(kheap_check(), 0);
        kfree(a);
        kfree(c);
    }
}

/* Reports name only what they verified: no sizes read from a pointer that
 * is not a block. */
HTEST(heap_invalid_free_reports_only_verified_facts)
{
    for (volatile int harden = 0; harden <= 1; harden++) {
        setup(harden);
        char *p = kmalloc(100), *q = kmalloc(KHEAP_SMALL_MAX + 4464); /* q: a list block */
        memset(p, 0xee, 100);
        memset(q, 0xee, KHEAP_SMALL_MAX + 4464);
        CHECK(EXPECT_PANIC(kfree(p + 32)));
        CHECK(!said("size "));
        CHECK(said("not at a block start"));
        CHECK(EXPECT_PANIC(kfree(q + 512)));
        CHECK(!said("size ") && !said("list block of"));
        CHECK(said("not a block the heap returned"));
        int local;
        CHECK(EXPECT_PANIC(kfree(&local)));
        CHECK(said("not a heap address"));
        kfree(p);
        CHECK(EXPECT_PANIC(kfree(p)));
        CHECK(said("double free") && said("class"));
        kfree(q);
        CHECK(EXPECT_PANIC(kfree(q)));
        CHECK(said("double free") && said("list block of"));
        CHECK_EQ(kheap_check(), 0);
    }
}

HTEST(heap_kmalloc_huge_before_init_returns_null)
{
    kheap_init(NULL, 0);
    CHECK(kmalloc(SIZE_MAX) == NULL);
    CHECK(kmalloc(SIZE_MAX - 15) == NULL);
    CHECK(kmalloc(KBUMP_SIZE + 1) == NULL);
    CHECK(kmalloc_aligned(16, 1 << 20) == NULL);
    void *p = kmalloc(32);
    CHECK(p != NULL);
    kfree(p);
}

/* A hardened block of 4 GiB or more keeps its whole size in its tag. */
HTEST(heap_hardened_block_of_4gib_and_more)
{
    size_t big = (4ULL << 30) + 100;
    size_t bytes = (5ULL << 30);
    uint8_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(m != MAP_FAILED);
    struct heap_region r;
    heap_region_init(&r, m, bytes);
    kheap_init(&r.src, 1);
    uint8_t *p = kmalloc(big);
    CHECK(p != NULL);
    p[big - 1] = 1;
    CHECK_EQ(kmalloc_usable_size(p), big);
    CHECK_EQ(kheap_check(), 0);
    uint8_t *q = krealloc(p, big - 50); /* in place: the tail shrinks */
    CHECK(q == p);
    CHECK_EQ(kmalloc_usable_size(q), big - 50);
    CHECK_EQ(kheap_check(), 0);
    kfree(q);
    CHECK_EQ(kheap_check(), 0);
    munmap(m, bytes);
}
