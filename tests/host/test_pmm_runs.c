/*
 * Host tests of the PMM core's run summaries (the full-word tree and the
 * per-group run classes, src/mm/pmm_core.c): runs on fragmented maps and
 * across word and group boundaries, stale classes and stale full-word bits,
 * each allocation checked against a byte-per-frame first-fit reference.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include <pagoda/errno.h>
#include <pagoda/pmm_core.h>

#define E(b, l, t)                                                                                 \
    {                                                                                              \
        (b), (l), STIVALE2_MMAP_##t, 0                                                             \
    }

struct fake {
    struct pmm_core c;
    void *mem;
};

/* A core over usable [1 MiB, ram) with a malloc'd bitmap outside the map. */
static int fake_flat(struct fake *f, uint64_t ram)
{
    struct stivale2_mmap_entry m[] = {E(0x100000, ram - 0x100000, USABLE)};
    size_t bytes = pmm_core_bitmap_bytes(m, 1);
    f->mem = malloc(bytes);
    return pmm_core_init(&f->c, m, 1, f->mem, 0, bytes);
}

static void fake_fini(struct fake *f)
{
    free(f->mem);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
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

/* Take every frame. */
static void take_all(struct fake *f)
{
    while (pmm_core_alloc(&f->c, 64) != 0)
        ;
    while (pmm_core_alloc(&f->c, 1) != 0)
        ;
}

/* A single frame taken from a full word leaves its full-word bit set
 * (stale); a long run must neither use that word as if it were free nor
 * miss the run around it, and the search clears the stale bit. */
HTEST(pmm_stale_full_word_bits)
{
    struct fake f;
    CHECK_EQ(fake_flat(&f, MiB(64)), 0);
    take_all(&f);
    uint64_t start = f.c.free_frames;
    /* Three free stretches of 320 frames (five whole words), apart. */
    static const uint64_t at[] = {1024, 1408, 1792};
    for (unsigned i = 0; i < ARRAY_SIZE(at); i++)
        CHECK_EQ(pmm_core_free(&f.c, at[i] << 12, 320), 0);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    /* One frame from the first stretch's first word: its bit goes stale. */
    CHECK_EQ(pmm_core_alloc(&f.c, 1), at[0] << 12);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    /* 319 frames are left there, 63 of them in the stale word. */
    CHECK_EQ(pmm_core_alloc(&f.c, 300), (at[0] + 1) << 12);
    CHECK_EQ(pmm_core_alloc(&f.c, 300), at[1] << 12);
    CHECK_EQ(pmm_core_alloc(&f.c, 320), at[2] << 12);
    CHECK_EQ(pmm_core_alloc(&f.c, 128), 0); /* 19 + 20 frames are left */
    CHECK_EQ(pmm_core_check(&f.c), 0);
    CHECK_EQ(pmm_core_free(&f.c, at[0] << 12, 1), 0);
    CHECK_EQ(pmm_core_free(&f.c, (at[0] + 1) << 12, 300), 0);
    CHECK_EQ(pmm_core_free(&f.c, at[1] << 12, 300), 0);
    CHECK_EQ(pmm_core_free(&f.c, at[2] << 12, 320), 0);
    CHECK_EQ(f.c.free_frames, start + 960);
    CHECK_EQ(pmm_core_alloc(&f.c, 320), at[0] << 12); /* whole again */
    CHECK_EQ(pmm_core_check(&f.c), 0);
    fake_fini(&f);
}

/* Runs across words and groups on a fragmented 80 MiB map (five groups of
 * run summaries): one free frame in 64 below, runs straddling the group
 * boundaries, then a random mix of single frames and runs, each alloc
 * checked against a first-fit reference. A stale run class (raised by a
 * free, lowered by a search) must never hide a fitting run. */
HTEST(pmm_fragmented_runs_against_reference)
{
    struct fake f;
    CHECK_EQ(fake_flat(&f, MiB(80)), 0);
    uint64_t nf = f.c.nframes, start = f.c.free_frames;
    CHECK(f.c.ngroups >= 5);
    uint8_t *ref = calloc(nf, 1);
    /* Take everything, then free one frame per word in the lower half and a
     * few runs around group boundaries. */
    while (pmm_core_alloc(&f.c, 64) != 0)
        ;
    while (pmm_core_alloc(&f.c, 1) != 0)
        ;
    CHECK_EQ(f.c.free_frames, 0);
    for (uint64_t w = 4; w < nf / 128; w++) {
        uint64_t fr = w * 64 + rnd() % 64;
        CHECK_EQ(pmm_core_free(&f.c, fr << 12, 1), 0);
        ref[fr] = 1;
    }
    static const uint64_t at[][2] = {
        {4096 - 20, 40}, {2 * 4096 - 1, 16}, {3 * 4096 - 100, 230}, {4 * 4096 - 64, 64},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(at); i++) {
        for (uint64_t k = 0; k < at[i][1]; k++)
            if (!ref[at[i][0] + k]) {
                CHECK_EQ(pmm_core_free(&f.c, (at[i][0] + k) << 12, 1), 0);
                ref[at[i][0] + k] = 1;
            }
    }
    CHECK_EQ(pmm_core_check(&f.c), 0);
    struct {
        uint64_t f, n;
    } live[256];
    int nlive = 0;
    for (int step = 0; step < 6000; step++) {
        uint64_t r = rnd();
        if ((r & 3) != 0 && nlive < 256) {
            static const uint64_t sizes[] = {1, 2, 3, 15, 16, 17, 40, 64, 65, 100, 126, 127, 200, 512};
            uint64_t n = sizes[(r >> 8) % ARRAY_SIZE(sizes)];
            uint64_t align = 1ull << ((r >> 20) % 4 == 0 ? (r >> 24) % 8 : 0);
            uint64_t want = ref_fit(ref, nf, n, align, UINT64_MAX);
            paddr_t got = pmm_core_alloc_run(&f.c, n, align, UINT64_MAX);
            CHECK_EQ(got >> 12, want);
            if (!want)
                continue;
            memset(ref + want, 0, n);
            live[nlive].f = want;
            live[nlive++].n = n;
        } else if (nlive) {
            int i = (int)((r >> 8) % (uint64_t)nlive);
            CHECK_EQ(pmm_core_free(&f.c, live[i].f << 12, live[i].n), 0);
            memset(ref + live[i].f, 1, live[i].n);
            live[i] = live[--nlive];
        }
        if (step % 499 == 0)
            CHECK_EQ(pmm_core_check(&f.c), 0);
    }
    while (nlive) {
        nlive--;
        CHECK_EQ(pmm_core_free(&f.c, live[nlive].f << 12, live[nlive].n), 0);
        memset(ref + live[nlive].f, 1, live[nlive].n);
    }
    for (uint64_t i = 0; i < nf; i++)
        CHECK_EQ(pmm_core_is_free(&f.c, i << 12), ref[i]);
    CHECK_EQ(pmm_core_check(&f.c), 0);
    CHECK(f.c.free_frames < start);
    free(ref);
    fake_fini(&f);
}
