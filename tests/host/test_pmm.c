/*
 * Host tests of the PMM core (src/mm/pmm_core*.c) over fake memory maps:
 * QEMU-like maps with the low-memory holes, RAM above 4 GiB, a kernel range,
 * bootloader-reclaimable memory, 256 GiB; plus a randomized run against a
 * byte-per-frame reference model that computes the same first fit.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include <pagoda/errno.h>
#include <pagoda/pmm_core.h>

#define E(b, l, t)                                                                                 \
    {                                                                                              \
        (b), (l), (t), 0                                                                           \
    }
#define USABLE STIVALE2_MMAP_USABLE
#define RESERVED STIVALE2_MMAP_RESERVED
#define KERNEL STIVALE2_MMAP_KERNEL_AND_MODULES
#define RECLAIM STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE

/* QEMU/SeaBIOS at -m 128M, with the kernel at 1 MiB as the adapter marks it. */
static const struct stivale2_mmap_entry map128[] = {
    E(0, 0x9fc00, USABLE),
    E(0x9fc00, 0x400, RESERVED),
    E(0xf0000, 0x10000, RESERVED),
    E(0x100000, 0x100000, KERNEL),
    E(0x200000, 0x7de0000, USABLE),
    E(0x7fe0000, 0x20000, RESERVED),
    E(0xfffc0000, 0x40000, RESERVED),
    E(0xfd00000000, 0x300000000, RESERVED),
};
#define MAP128_USABLE_FRAMES (0x9f + 0x7de0000 / 4096)

/* RAM split around the PCI hole: 3 GiB below 4 GiB, 1 GiB above. */
static const struct stivale2_mmap_entry map_high[] = {
    E(0, 0x9fc00, USABLE),
    E(0x100000, 0x100000, KERNEL),
    E(0x200000, 0xbfe00000, USABLE),
    E(0xc0000000, 0x40000000, RESERVED),
    E(0x100000000, 0x40000000, USABLE),
    E(0xfd00000000, 0x300000000, RESERVED),
};

struct fake {
    struct pmm_core c;
    void *mem;
};

/* A core over map with a malloc'd bitmap that is not part of the map. */
static int fake_init(struct fake *f, const struct stivale2_mmap_entry *map, size_t n)
{
    size_t bytes = pmm_core_bitmap_bytes(map, n);
    f->mem = malloc(bytes ? bytes : 1);
    return pmm_core_init(&f->c, map, n, f->mem, 0, bytes);
}

static void fake_fini(struct fake *f)
{
    free(f->mem);
}

/* A big map: usable [1 MiB, ram) with nothing else. */
static int fake_flat(struct fake *f, uint64_t ram)
{
    struct stivale2_mmap_entry m[] = {E(0x100000, ram - 0x100000, USABLE)};
    return fake_init(f, m, 1);
}

HTEST(pmm_init_counts_qemu_128m)
{
    struct fake f;
    size_t bytes = pmm_core_bitmap_bytes(map128, ARRAY_SIZE(map128));
    CHECK_EQ(bytes, 8192); /* 0x7fe0 frames: 4096 + 64 + 8 bytes of levels */
    paddr_t at = pmm_core_place_bitmap(map128, ARRAY_SIZE(map128), bytes, GiB(4));
    CHECK_EQ(at, 0x7fe0000 - 8192); /* the top of the highest usable entry */
    f.mem = malloc(bytes);
    CHECK_EQ(pmm_core_init(&f.c, map128, ARRAY_SIZE(map128), f.mem, at, bytes), 0);
    CHECK_EQ(f.c.nframes, 0x7fe0);
    CHECK_EQ(f.c.usable_frames, MAP128_USABLE_FRAMES);
    CHECK_EQ(f.c.free_frames, 0x7de0000 / 4096 - 2); /* minus low 1 MiB, bitmap */
    CHECK_EQ(f.c.nranges, 1);
    CHECK(!pmm_core_is_free(&f.c, at));
    CHECK(!pmm_core_is_free(&f.c, 0));
    CHECK(!pmm_core_is_free(&f.c, 0x1000));
    CHECK(pmm_core_is_free(&f.c, 0x200000));
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

HTEST(pmm_alloc_all_no_dup_no_low_no_hole)
{
    struct fake f;
    CHECK_EQ(fake_init(&f, map_high, ARRAY_SIZE(map_high)), 0);
    uint64_t start = f.c.free_frames, n = 0;
    CHECK_EQ(start, (0xbfe00000 + 0x40000000ULL) / 4096);
    uint8_t *seen = calloc(f.c.nframes, 1);
    paddr_t pa;
    while ((pa = pmm_core_alloc(&f.c, 1)) != 0) {
        uint64_t fr = pa >> 12;
        CHECK(fr < f.c.nframes);
        CHECK(!seen[fr]);
        seen[fr] = 1;
        CHECK(pa >= 0x200000);                          /* not low, not kernel */
        CHECK(pa < 0xc0000000 || pa >= 0x100000000ULL); /* not the hole */
        n++;
    }
    CHECK_EQ(n, start);
    CHECK_EQ(f.c.free_frames, 0);
    CHECK_EQ(pmm_core_alloc(&f.c, 1), 0);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    for (uint64_t fr = 0; fr < f.c.nframes; fr++)
        if (seen[fr])
            CHECK_EQ(pmm_core_free(&f.c, fr << 12, 1), 0);
    CHECK_EQ(f.c.free_frames, start);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    free(seen);
    fake_fini(&f);
}

HTEST(pmm_runs_across_word_boundaries)
{
    struct fake f;
    CHECK_EQ(fake_init(&f, map128, ARRAY_SIZE(map128)), 0);
    uint64_t start = f.c.free_frames;
    paddr_t one = pmm_core_alloc(&f.c, 1); /* offset the rest by one frame */
    CHECK_EQ(one, 0x200000);
    paddr_t runs[8];
    size_t sizes[8] = {63, 64, 65, 130, 1, 2, 127, 200};
    paddr_t expect = 0x201000;
    for (int i = 0; i < 8; i++) {
        runs[i] = pmm_core_alloc(&f.c, sizes[i]);
        CHECK_EQ(runs[i], expect); /* first fit packs them */
        for (size_t k = 0; k < sizes[i]; k++)
            CHECK(!pmm_core_is_free(&f.c, runs[i] + k * 4096));
        CHECK(pmm_core_is_free(&f.c, runs[i] + sizes[i] * 4096));
        expect += sizes[i] * 4096;
        CHECK_EQ(pmm_core_check(&f.c), 0);
    }
    /* Free a middle run; a smaller run refills it first fit. */
    CHECK_EQ(pmm_core_free(&f.c, runs[3], 130), 0);
    CHECK_EQ(pmm_core_alloc(&f.c, 100), runs[3]);
    CHECK_EQ(pmm_core_alloc(&f.c, 31), expect); /* 30 left in the hole: too small */
    CHECK_EQ(pmm_core_alloc(&f.c, 30), runs[3] + 100 * 4096);
    CHECK_EQ(pmm_core_free(&f.c, runs[3], 100), 0);
    CHECK_EQ(pmm_core_free(&f.c, runs[3] + 100 * 4096, 30), 0);
    CHECK_EQ(pmm_core_free(&f.c, expect, 31), 0);
    for (int i = 0; i < 8; i++)
        if (i != 3)
            CHECK_EQ(pmm_core_free(&f.c, runs[i], sizes[i]), 0);
    CHECK_EQ(pmm_core_free(&f.c, one, 1), 0);
    CHECK_EQ(f.c.free_frames, start);
    CHECK_EQ(f.c.hint, 0x200000 >> 18);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

HTEST(pmm_aligned_runs)
{
    struct fake f;
    CHECK_EQ(fake_init(&f, map_high, ARRAY_SIZE(map_high)), 0);
    uint64_t start = f.c.free_frames;
    paddr_t a = pmm_core_alloc(&f.c, 3);
    CHECK_EQ(a, 0x200000);
    paddr_t big = pmm_core_alloc_run(&f.c, 512, 512, UINT64_MAX);
    CHECK_EQ(big, 0x400000); /* the next 2 MiB boundary */
    paddr_t b = pmm_core_alloc_run(&f.c, 5, 8, UINT64_MAX);
    CHECK_EQ(b, 0x208000); /* the first free frame, 0x203000, rounded up */
    paddr_t g = pmm_core_alloc_run(&f.c, 1, 1u << 18, UINT64_MAX); /* 1 GiB aligned */
    CHECK_EQ(g, 0x40000000);
    CHECK_EQ(pmm_core_alloc_run(&f.c, 1, 3, UINT64_MAX), 0);          /* not a power of 2 */
    CHECK_EQ(pmm_core_alloc_run(&f.c, 1, 0, UINT64_MAX), 0);          /* 0 alignment */
    CHECK_EQ(pmm_core_alloc_run(&f.c, 1, 1ull << 40, UINT64_MAX), 0); /* only frame 0 */
    /* 1 GiB aligned, 1 GiB long: [2 GiB, 3 GiB), then only above 4 GiB. */
    paddr_t h = pmm_core_alloc_run(&f.c, 1u << 18, 1u << 18, UINT64_MAX);
    CHECK_EQ(h, 0x80000000ULL);
    paddr_t h2 = pmm_core_alloc_run(&f.c, 1u << 18, 1u << 18, UINT64_MAX);
    CHECK_EQ(h2, 0x100000000ULL);
    CHECK_EQ(pmm_core_alloc_run(&f.c, 1u << 18, 1u << 18, UINT64_MAX), 0);
    CHECK_EQ(pmm_core_free(&f.c, h2, 1u << 18), 0);
    CHECK_EQ(pmm_core_free(&f.c, h, 1u << 18), 0);
    CHECK_EQ(pmm_core_free(&f.c, g, 1), 0);
    CHECK_EQ(pmm_core_free(&f.c, b, 5), 0);
    CHECK_EQ(pmm_core_free(&f.c, big, 512), 0);
    CHECK_EQ(pmm_core_free(&f.c, a, 3), 0);
    CHECK_EQ(f.c.free_frames, start);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

HTEST(pmm_below_limit)
{
    struct fake f;
    CHECK_EQ(fake_init(&f, map_high, ARRAY_SIZE(map_high)), 0);
    uint64_t start = f.c.free_frames;
    uint64_t lim = MiB(16) >> 12;
    /* Exhaust [2 MiB, 16 MiB) with mixed runs; everything ends below 16 MiB. */
    uint64_t got = 0;
    for (size_t n = 1;; n = n % 37 + 1) {
        paddr_t p = pmm_core_alloc_run(&f.c, n, 1, lim);
        if (!p) {
            /* Runs never straddle the limit: retry single frames to finish. */
            if (n == 1)
                break;
            continue;
        }
        CHECK((p >> 12) + n <= lim);
        CHECK(p >= 0x200000);
        got += n;
    }
    CHECK_EQ(got, lim - 0x200);
    CHECK_EQ(pmm_core_alloc_run(&f.c, 1, 1, lim), 0);
    paddr_t above = pmm_core_alloc(&f.c, 1); /* memory above the limit remains */
    CHECK_EQ(above, MiB(16));
    CHECK_EQ(pmm_core_alloc_run(&f.c, 1, 1, 0), 0);
    CHECK_EQ(pmm_core_free(&f.c, 0x200000, lim - 0x200), 0); /* all of it at once */
    CHECK_EQ(pmm_core_free(&f.c, above, 1), 0);
    CHECK_EQ(f.c.free_frames, start);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

HTEST(pmm_exhaustion_never_partial)
{
    struct fake f;
    CHECK_EQ(fake_init(&f, map128, ARRAY_SIZE(map128)), 0);
    uint64_t start = f.c.free_frames;
    CHECK_EQ(pmm_core_alloc(&f.c, 0), 0);
    CHECK_EQ(pmm_core_alloc(&f.c, start + 1), 0);
    CHECK_EQ(pmm_core_alloc(&f.c, SIZE_MAX), 0);
    CHECK_EQ(pmm_core_alloc_run(&f.c, SIZE_MAX, 1, UINT64_MAX), 0);
    CHECK_EQ(f.c.free_frames, start);
    /* Leave two holes of 10 frames: a run of 11 must fail, untouched. */
    paddr_t all = pmm_core_alloc(&f.c, start);
    CHECK_EQ(all, 0x200000);
    CHECK_EQ(f.c.free_frames, 0);
    CHECK_EQ(pmm_core_free(&f.c, all + 100 * 4096, 10), 0);
    CHECK_EQ(pmm_core_free(&f.c, all + 1000 * 4096, 10), 0);
    CHECK_EQ(pmm_core_alloc(&f.c, 11), 0);
    CHECK_EQ(f.c.free_frames, 20);
    CHECK_EQ(pmm_core_alloc(&f.c, 10), all + 100 * 4096);
    CHECK_EQ(pmm_core_alloc(&f.c, 10), all + 1000 * 4096);
    CHECK_EQ(pmm_core_alloc(&f.c, 1), 0);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    CHECK_EQ(pmm_core_free(&f.c, all, start), 0);
    CHECK_EQ(f.c.free_frames, start);
    fake_fini(&f);
}

HTEST(pmm_double_and_bad_frees)
{
    struct fake f;
    size_t bytes = pmm_core_bitmap_bytes(map128, ARRAY_SIZE(map128));
    paddr_t at = pmm_core_place_bitmap(map128, ARRAY_SIZE(map128), bytes, GiB(4));
    f.mem = malloc(bytes);
    CHECK_EQ(pmm_core_init(&f.c, map128, ARRAY_SIZE(map128), f.mem, at, bytes), 0);
    uint64_t start = f.c.free_frames;
    paddr_t p = pmm_core_alloc(&f.c, 4);
    CHECK_EQ(pmm_core_free(&f.c, p, 4), 0);
    CHECK_EQ(pmm_core_free(&f.c, p, 4), -E_DOUBLE);
    CHECK_EQ(pmm_core_free(&f.c, p + 4096, 1), -E_DOUBLE);
    p = pmm_core_alloc(&f.c, 4);
    CHECK_EQ(pmm_core_free(&f.c, p + 2 * 4096, 1), 0);
    CHECK_EQ(pmm_core_free(&f.c, p, 4), -E_DOUBLE); /* partly free: nothing changes */
    CHECK_EQ(f.c.free_frames, start - 3);
    CHECK(!pmm_core_is_free(&f.c, p));
    CHECK_EQ(pmm_core_free(&f.c, p + 1, 1), -E_ALIGN);
    CHECK_EQ(pmm_core_free(&f.c, p + 0x800, 1), -E_ALIGN);
    CHECK_EQ(pmm_core_free(&f.c, p, 0), -E_RANGE);
    CHECK_EQ(pmm_core_free(&f.c, 0x7fe0000, 1), -E_RANGE);    /* past the top */
    CHECK_EQ(pmm_core_free(&f.c, 0xfd00000000, 1), -E_RANGE); /* reserved, far */
    CHECK_EQ(pmm_core_free(&f.c, p, SIZE_MAX), -E_RANGE);
    CHECK_EQ(pmm_core_free(&f.c, 0, 1), -E_BADFREE);         /* frame 0 */
    CHECK_EQ(pmm_core_free(&f.c, 0x1000, 1), -E_BADFREE);    /* low 1 MiB */
    CHECK_EQ(pmm_core_free(&f.c, 0x9f000, 1), -E_BADFREE);   /* EBDA */
    CHECK_EQ(pmm_core_free(&f.c, 0x100000, 1), -E_BADFREE);  /* kernel */
    CHECK_EQ(pmm_core_free(&f.c, 0x1ff000, 2), -E_BADFREE);  /* kernel + usable */
    CHECK_EQ(pmm_core_free(&f.c, at, 1), -E_BADFREE);        /* the bitmap */
    CHECK_EQ(pmm_core_free(&f.c, at - 4096, 2), -E_BADFREE); /* usable + bitmap */
    CHECK_EQ(f.c.free_frames, start - 3);
    CHECK_EQ(pmm_core_free(&f.c, p, 2), 0);
    CHECK_EQ(pmm_core_free(&f.c, p + 3 * 4096, 1), 0);
    CHECK_EQ(f.c.free_frames, start);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

/* pmm_core_allocatable answers for the whole of [first, first + n): a
 * count that would wrap past 2^64 is never allocatable. */
HTEST(pmm_allocatable_huge_count)
{
    struct fake f;
    CHECK_EQ(fake_flat(&f, MiB(64)), 0);
    uint64_t first = f.c.ranges[0].first;
    CHECK(pmm_core_allocatable(&f.c, first, 1));
    CHECK(!pmm_core_allocatable(&f.c, first, f.c.ranges[0].end - first + 1));
    CHECK(!pmm_core_allocatable(&f.c, first, UINT64_MAX));
    CHECK(!pmm_core_allocatable(&f.c, first, UINT64_MAX - first + 2)); /* wraps to frame 1 */
    f.c.last_range = 0;
    CHECK(!pmm_core_allocatable(&f.c, first + 1, UINT64_MAX - 8));
    CHECK(!pmm_core_allocatable(&f.c, UINT64_MAX - 8, 10)); /* wraps to frame 1 */
    fake_fini(&f);
}

HTEST(pmm_reclaim_bootloader)
{
    static const struct stivale2_mmap_entry m[] = {
        E(0, 0x9fc00, USABLE),           E(0x100000, 0x100000, KERNEL),
        E(0x200000, 0x10000, RECLAIM),   E(0x210000, 0x1000000, USABLE),
        E(0x1210000, 0x5000, RECLAIM),   E(0x1215000, 0x3000, RESERVED),
        E(0x1218000, 0x800000, RECLAIM), /* the top: the bitmap covers it too */
    };
    struct fake f;
    CHECK_EQ(fake_init(&f, m, ARRAY_SIZE(m)), 0);
    CHECK_EQ(f.c.nframes, 0x1a18);
    uint64_t start = f.c.free_frames, usable = f.c.usable_frames;
    CHECK_EQ(start, 0x1000);
    CHECK_EQ(pmm_core_free(&f.c, 0x200000, 1), -E_BADFREE);
    CHECK(!pmm_core_is_free(&f.c, 0x1210000));
    CHECK_EQ(pmm_core_reclaim(&f.c), 0x10 + 0x5 + 0x800);
    CHECK_EQ(pmm_core_reclaim(&f.c), 0);
    CHECK_EQ(f.c.free_frames, start + 0x815);
    CHECK_EQ(f.c.usable_frames, usable + 0x815);
    CHECK_EQ(f.c.nranges, 2); /* [2 MiB, 0x1215000) and the top piece */
    CHECK_EQ(pmm_core_alloc(&f.c, 1), 0x200000);
    CHECK_EQ(pmm_core_free(&f.c, 0x1214000, 1), -E_DOUBLE);
    CHECK_EQ(pmm_core_free(&f.c, 0x1215000, 1), -E_BADFREE); /* still reserved */
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

/* Overlapping entries: anything not usable wins, also over bootloader-
 * reclaimable memory, so reclaiming it must not free what a reserved or
 * kernel entry covers, whatever the entries' order. */
HTEST(pmm_reclaim_never_frees_reserved_overlap)
{
    static const struct stivale2_mmap_entry m[] = {
        E(0x100000, 0x1000000, USABLE),  E(0x400000, 0x100000, RECLAIM),
        E(0x440000, 0x2800, RESERVED),   /* inside the reclaimable entry, unaligned */
        E(0x4F0000, 0x20000, KERNEL),    /* over its end */
        E(0x3F0000, 0x20000, RESERVED),  /* over its start */
        E(0x800000, 0x10000, RESERVED),  E(0x808000, 0x10000, RECLAIM), /* reserved first */
    };
    struct fake f;
    CHECK_EQ(fake_init(&f, m, ARRAY_SIZE(m)), 0);
    uint64_t start = f.c.free_frames;
    /* 0x410..0x440 and 0x443..0x4f0 come back; 0x810..0x818 too. */
    CHECK_EQ(pmm_core_reclaim(&f.c), 0x30 + 0xad + 0x8);
    CHECK_EQ(f.c.free_frames, start + 0x30 + 0xad + 0x8);
    CHECK(pmm_core_is_free(&f.c, 0x410000));
    CHECK(!pmm_core_is_free(&f.c, 0x40f000));
    CHECK(!pmm_core_is_free(&f.c, 0x440000));
    CHECK(!pmm_core_is_free(&f.c, 0x442000));
    CHECK(pmm_core_is_free(&f.c, 0x443000));
    CHECK(!pmm_core_is_free(&f.c, 0x4f0000));
    CHECK(!pmm_core_is_free(&f.c, 0x80f000));
    CHECK(pmm_core_is_free(&f.c, 0x810000));
    CHECK_EQ(pmm_core_free(&f.c, 0x440000, 1), -E_BADFREE);
    CHECK_EQ(pmm_core_free(&f.c, 0x4f0000, 1), -E_BADFREE);
    CHECK_EQ(pmm_core_free(&f.c, 0x808000, 1), -E_BADFREE);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

HTEST(pmm_unsorted_overlapping_map)
{
    /* Reserved entries inside usable ones win, in any order. */
    static const struct stivale2_mmap_entry m[] = {
        E(0x500000, 0x1800, RESERVED), /* unaligned: takes 2 frames */
        E(0x100000, 0x1000000, USABLE), E(0x300000, 0x100000, KERNEL),
        E(0x1100000, 0x1234, USABLE), /* partial frames dropped */
    };
    struct fake f;
    CHECK_EQ(fake_init(&f, m, ARRAY_SIZE(m)), 0);
    CHECK_EQ(f.c.nframes, 0x1101);
    CHECK_EQ(f.c.usable_frames, 0x1000 - 0x100 - 2 + 1);
    CHECK(!pmm_core_is_free(&f.c, 0x500000));
    CHECK(!pmm_core_is_free(&f.c, 0x501000));
    CHECK(pmm_core_is_free(&f.c, 0x502000));
    CHECK(!pmm_core_is_free(&f.c, 0x3ff000));
    CHECK(pmm_core_is_free(&f.c, 0x1100000));
    CHECK_EQ(f.c.nranges, 3); /* the last frame touches the big run */
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

HTEST(pmm_degenerate_maps)
{
    struct fake f;
    static const struct stivale2_mmap_entry none[] = {E(0, 0x100000, RESERVED)};
    CHECK_EQ(fake_init(&f, none, 1), -E_INVAL);
    fake_fini(&f);
    static const struct stivale2_mmap_entry low[] = {E(0x1000, 0x9e000, USABLE)};
    CHECK_EQ(fake_init(&f, low, 1), 0); /* usable, but all below 1 MiB */
    CHECK_EQ(f.c.usable_frames, 0x9e);
    CHECK_EQ(f.c.free_frames, 0);
    CHECK_EQ(pmm_core_alloc(&f.c, 1), 0);
    CHECK_EQ(pmm_core_alloc(&f.c, 2), 0);
    CHECK_EQ(pmm_core_free(&f.c, 0x2000, 1), -E_BADFREE);
    fake_fini(&f);
    static const struct stivale2_mmap_entry huge[] = {E(0x100000, UINT64_MAX, USABLE)};
    CHECK_EQ(pmm_core_bitmap_bytes(huge, 1) > MiB(16), true); /* clamped to 2^52 */
    char small[64];
    CHECK_EQ(pmm_core_init(&f.c, map128, ARRAY_SIZE(map128), small, 0, sizeof(small)), -E_NOMEM);
    CHECK_EQ(pmm_core_place_bitmap(map128, ARRAY_SIZE(map128), MiB(200), GiB(4)), 0);
    CHECK_EQ(pmm_core_place_bitmap(map128, ARRAY_SIZE(map128), 4096, MiB(1)), 0);
    CHECK_EQ(pmm_core_place_bitmap(map128, ARRAY_SIZE(map128), 4096, MiB(3)), MiB(3) - 4096);
    CHECK_EQ(pmm_core_place_bitmap(map_high, ARRAY_SIZE(map_high), 4096, GiB(4)),
             0xc0000000 - 4096);
}

HTEST(pmm_move_bitmap)
{
    struct fake f;
    CHECK_EQ(fake_init(&f, map_high, ARRAY_SIZE(map_high)), 0);
    paddr_t a = pmm_core_alloc(&f.c, 7);
    size_t bytes = f.c.bitmap_bytes;
    void *copy = malloc(bytes);
    memcpy(copy, f.mem, bytes);
    memset(f.mem, 0xa5, bytes); /* the old place is now garbage */
    pmm_core_move(&f.c, copy);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    CHECK_EQ(pmm_core_free(&f.c, a, 7), 0);
    CHECK_EQ(pmm_core_alloc(&f.c, 7), a);
    free(copy);
    fake_fini(&f);
}

HTEST(pmm_256g_and_lower_half_used)
{
    struct fake f;
    CHECK_EQ(fake_flat(&f, GiB(256)), 0);
    CHECK_EQ(f.c.nframes, GiB(256) >> 12);
    CHECK_EQ(f.c.top, 4);
    /* 8 MiB of frame bits, 130 KiB of summaries, 162 KiB of run summaries. */
    CHECK(f.c.bitmap_bytes >= MiB(8) && f.c.bitmap_bytes < MiB(8) + KiB(300));
    uint64_t start = f.c.free_frames;
    /* Take the lower half in one run; then single frames come from above. */
    uint64_t half = (GiB(128) >> 12) - 256;
    CHECK_EQ(pmm_core_alloc(&f.c, half), MiB(1));
    CHECK_EQ(pmm_core_alloc(&f.c, 1), GiB(128));
    CHECK_EQ(pmm_core_alloc(&f.c, 1), GiB(128) + 4096);
    /* A free deep below the hint is found again at once. */
    CHECK_EQ(pmm_core_free(&f.c, GiB(3), 1), 0);
    CHECK_EQ(pmm_core_alloc(&f.c, 1), GiB(3));
    CHECK_EQ(pmm_core_free(&f.c, GiB(128), 2), 0);
    /* Only the very last frame free: found through the summaries. */
    paddr_t rest = pmm_core_alloc(&f.c, f.c.free_frames - 1);
    CHECK_EQ(rest, GiB(128));
    CHECK_EQ(pmm_core_alloc(&f.c, 2), 0);
    CHECK_EQ(pmm_core_alloc(&f.c, 1), GiB(256) - 4096);
    CHECK_EQ(pmm_core_alloc(&f.c, 1), 0);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    CHECK_EQ(pmm_core_free(&f.c, GiB(256) - 4096, 1), 0);
    CHECK_EQ(pmm_core_free(&f.c, rest, (GiB(128) >> 12) - 1), 0);
    CHECK_EQ(pmm_core_free(&f.c, MiB(1), half), 0);
    CHECK_EQ(f.c.free_frames, start);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

/* ---- randomized run against a reference model ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Reference first fit over a byte per frame (1 = free). */
static uint64_t ref_fit(const uint8_t *ref, uint64_t nframes, uint64_t n, uint64_t align,
                        uint64_t end)
{
    end = MIN(end, nframes);
    for (uint64_t f = align; f + n <= end; f += align) {
        uint64_t k = 0;
        while (k < n && ref[f + k])
            k++;
        if (k == n)
            return f;
    }
    return 0;
}

HTEST(pmm_random_against_reference)
{
    static const struct stivale2_mmap_entry m[] = {
        E(0, 0x9fc00, USABLE),         E(0x100000, 0x8000, KERNEL),   E(0x108000, 0x37000, USABLE),
        E(0x13f000, 0x3000, RESERVED), E(0x142000, 0x1be000, USABLE), E(0x300000, 0x1000, RESERVED),
        E(0x301000, 0xff000, USABLE),
    };
    struct fake f;
    CHECK_EQ(fake_init(&f, m, ARRAY_SIZE(m)), 0);
    uint64_t nf = f.c.nframes, start = f.c.free_frames;
    uint8_t *ref = calloc(nf, 1), *ok = calloc(nf, 1);
    for (uint64_t i = 0; i < nf; i++)
        ok[i] = ref[i] = pmm_core_is_free(&f.c, i << 12);
    struct {
        uint64_t f, n;
    } live[512];
    int nlive = 0;
    for (int step = 0; step < 40000; step++) {
        uint64_t r = rnd();
        if ((r & 3) != 0 && nlive < 512) {
            uint64_t n = r >> 60 == 0 ? 1 + (r >> 8) % 300 : 1 + (r >> 8) % 9;
            uint64_t align = 1ull << ((r >> 20) % 4 == 0 ? (r >> 24) % 7 : 0);
            uint64_t end = (r >> 32) % 8 == 0 ? (r >> 36) % nf : UINT64_MAX;
            uint64_t want = ref_fit(ref, nf, n, align, end);
            paddr_t got = pmm_core_alloc_run(&f.c, n, align, end);
            CHECK_EQ(got >> 12, want);
            if (!want)
                continue;
            memset(ref + want, 0, n);
            live[nlive].f = want;
            live[nlive++].n = n;
        } else if (nlive) {
            int i = (int)((r >> 8) % (uint64_t)nlive);
            if ((r >> 40) % 16 == 0) { /* a bad or double free: nothing changes */
                uint64_t fr = (r >> 44) % nf;
                if (ok[fr] && !ref[fr])
                    continue; /* allocated: freeing it would be legal */
                CHECK_EQ(pmm_core_free(&f.c, fr << 12, 1), !ok[fr] ? -E_BADFREE : -E_DOUBLE);
                continue;
            }
            CHECK_EQ(pmm_core_free(&f.c, live[i].f << 12, live[i].n), 0);
            memset(ref + live[i].f, 1, live[i].n);
            live[i] = live[--nlive];
        }
        if (step % 997 == 0) {
            CHECK_EQ(pmm_core_check(&f.c), 0);
            for (uint64_t i = 0; i < nf; i++)
                CHECK_EQ(pmm_core_is_free(&f.c, i << 12), ref[i]);
        }
    }
    while (nlive) {
        nlive--;
        CHECK_EQ(pmm_core_free(&f.c, live[nlive].f << 12, live[nlive].n), 0);
    }
    CHECK_EQ(f.c.free_frames, start);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    free(ref);
    free(ok);
    fake_fini(&f);
}
