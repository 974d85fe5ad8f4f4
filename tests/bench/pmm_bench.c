/*
 * Workload 7: Pagoda's PMM core (src/mm/pmm_core*.c, built -O2 for the
 * host) against two baselines: the bit-by-bit first fit (bitscan.c) and a
 * flat bitmap with a lowest-free hint and word skipping (flatbit.c).
 *
 *   bench-pmm run        timed, on fake maps of 128 MiB, 4 GiB and 256 GiB
 *                        whose lower half is in use: single-frame pair, 16-
 *                        and 512-frame pairs, sequential fill of the free
 *                        upper half; then
 *                        - the random steady state at 128 MiB, 4, 64 and
 *                          256 GiB: half the frames live, scattered at
 *                          random; each step frees a random live frame and
 *                          allocates one (same seed for every allocator);
 *                        - the fragmented map at 4 and 256 GiB: one free
 *                          frame in 64 (at a random place in each word)
 *                          over the lower half, the upper half free;
 *                          16- and 512-frame alloc+free pairs.
 *                        Each reports the fastest slice (<key>_ns) and the
 *                        total time over all operations (<key>_mean_ns);
 *                        the fragmented map also the first search after
 *                        set-up (<key>_first_ns), which computes the run
 *                        classes of the groups it meets.
 *   bench-pmm callgrind  the same pairs with fixed counts, one callgrind
 *                        dump each, plus an empty loop as the baseline
 *
 * Pagoda's lower half is made "used" by allocating it (lowest first fit), so
 * its summary levels and hint are in the state real use leaves them in.
 */
#include "bench.h"
#include "bitscan.h"
#include "flatbit.h"

#include <pagoda/pmm_core.h>

#include <stdlib.h>
#include <string.h>

struct map_size {
    const char *name;
    uint64_t bytes;
};
static const struct map_size maps[] = {
    {"128m", MiB(128)},
    {"4g", GiB(4)},
    {"256g", GiB(256)},
};

/* Time `body`: double the batch until one takes a tenth of `target_ns` (or
 * reaches max_n / BENCH_SLICES), then run BENCH_SLICES batches of that size
 * and store the fastest batch's ns per iteration in `result`. */
#define TIMED(result, target_ns, max_n, body)                                  \
    do {                                                                       \
        long n_ = 1;                                                           \
        double best_ = 0;                                                      \
        for (int s_ = 0; s_ < BENCH_SLICES;) {                                 \
            uint64_t t0_ = bench_cpu_ns();                                     \
            for (long i_ = 0; i_ < n_; i_++) {                                 \
                body;                                                          \
            }                                                                  \
            uint64_t dt_ = bench_cpu_ns() - t0_;                               \
            if (s_ == 0 && dt_ < (uint64_t)(target_ns) / BENCH_SLICES &&       \
                n_ * 2 <= (long)(max_n) / BENCH_SLICES) {                      \
                n_ *= 2; /* still calibrating */                               \
                continue;                                                      \
            }                                                                  \
            bench_best(&best_, t0_, n_);                                       \
            s_++;                                                              \
            if (dt_ > (uint64_t)(target_ns) && s_ >= 3)                        \
                break; /* one op is slow: three slices are enough */          \
        }                                                                      \
        (result) = best_;                                                      \
    } while (0)

/* Like TIMED, for steady-state loops: calibrate a slice to a tenth of
 * target_ns / BENCH_SLICES (at most max_n / BENCH_SLICES operations), then
 * run slices until BENCH_SLICES are done or target_ns has passed (three at
 * least, wall clock). best = fastest slice, mean = all the CPU time over
 * all the operations, calibration included. */
#define TIMED2(best, mean, target_ns, max_n, body)                             \
    do {                                                                       \
        long n_ = 1, ops_ = 0;                                                 \
        double best_ = 0;                                                      \
        uint64_t start_ = bench_now_ns(), cpu_ = 0;                            \
        for (int s_ = 0; s_ < BENCH_SLICES;) {                                 \
            uint64_t t0_ = bench_cpu_ns();                                     \
            for (long i_ = 0; i_ < n_; i_++) {                                 \
                body;                                                          \
            }                                                                  \
            uint64_t dt_ = bench_cpu_ns() - t0_;                               \
            ops_ += n_;                                                        \
            cpu_ += dt_;                                                       \
            if (s_ == 0 && dt_ < (uint64_t)(target_ns) / BENCH_SLICES / 10 &&  \
                n_ * 2 <= (long)(max_n) / BENCH_SLICES) {                      \
                n_ *= 2;                                                       \
                continue;                                                      \
            }                                                                  \
            bench_best(&best_, t0_, n_);                                       \
            s_++;                                                              \
            if (bench_now_ns() - start_ > (uint64_t)(target_ns) && s_ >= 3)    \
                break;                                                         \
        }                                                                      \
        (best) = best_;                                                        \
        (mean) = (double)cpu_ / (double)ops_;                                  \
    } while (0)

struct pagoda_map {
    struct pmm_core core;
    void *mem;
    size_t bytes;
};

static void die(const char *what)
{
    fprintf(stderr, "bench-pmm: %s\n", what);
    exit(1);
}

/* A core over [1 MiB, bytes) with frames below bytes/2 allocated. */
static void pagoda_setup(struct pagoda_map *m, uint64_t bytes)
{
    struct stivale2_mmap_entry map[2] = {
        {0, MiB(1), STIVALE2_MMAP_RESERVED, 0},
        {MiB(1), bytes - MiB(1), STIVALE2_MMAP_USABLE, 0},
    };
    m->bytes = pmm_core_bitmap_bytes(map, 2);
    m->mem = bench_array(m->bytes);
    if (pmm_core_init(&m->core, map, 2, m->mem, 0, m->bytes) != 0)
        die("pmm_core_init failed");
    uint64_t want = bytes / 2 / PAGE_SIZE - 256; /* frames [256, half) */
    while (want) {
        size_t n = want > 512 ? 512 : want;
        if (pmm_core_alloc(&m->core, n) == 0)
            die("could not fill the lower half");
        want -= n;
    }
    paddr_t probe = pmm_core_alloc(&m->core, 1);
    if (probe != bytes / 2)
        die("lower half is not exactly the used part");
    pmm_core_free(&m->core, probe, 1);
}

static void pagoda_teardown(struct pagoda_map *m) { bench_array_free(m->mem, m->bytes); }

/* "R <who>_pair_<map>_ns" for single frames, "<who>_contig<n>_<map>_ns". */
static void emit_run(const char *who, size_t n, const char *map, double ns)
{
    char key[64];
    if (n == 1)
        snprintf(key, sizeof(key), "%s_pair_%s_ns", who, map);
    else
        snprintf(key, sizeof(key), "%s_contig%zu_%s_ns", who, n, map);
    bench_emit(key, ns);
}

static void run_steady(void);

static void run_timed(void)
{
    char key[64];
    double ns;
    for (size_t k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
        const char *mn = maps[k].name;
        uint64_t bytes = maps[k].bytes;
        struct pagoda_map pm;
        pagoda_setup(&pm, bytes);
        struct pmm_core *c = &pm.core;
        static const size_t runs[] = {1, 16, 512};
        for (int r = 0; r < 3; r++) {
            size_t n = runs[r];
            TIMED(ns, 40000000 * bench_scale(), 50000000, {
                paddr_t pa = pmm_core_alloc(c, n);
                bench_sink((void *)pa);
                pmm_core_free(c, pa, n);
            });
            emit_run("pmm", n, mn, ns);
        }
        /* Sequential fill: every free frame, one at a time, until NULL;
         * then all back (untimed). The best of three fills. */
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            uint64_t t0 = bench_cpu_ns(), count = 0;
            paddr_t first = 0, last = 0, pa;
            while ((pa = pmm_core_alloc(c, 1)) != 0) {
                if (!count)
                    first = pa;
                last = pa;
                count++;
            }
            bench_best(&best, t0, (long)count);
            if (last - first != (count - 1) * PAGE_SIZE)
                die("fill was not sequential");
            for (paddr_t p = first; p <= last; p += 512 * PAGE_SIZE) {
                size_t n = (last - p) / PAGE_SIZE + 1;
                if (pmm_core_free(c, p, n > 512 ? 512 : n) != 0)
                    die("free after fill failed");
            }
        }
        snprintf(key, sizeof(key), "pmm_fill_%s_ns", mn);
        bench_emit(key, best);
        pagoda_teardown(&pm);

        /* The baseline, time-capped: one op can scan 2^25 bits. */
        struct bitscan b;
        bitscan_init(&b, bytes, bytes / 2);
        for (int r = 0; r < 3; r++) {
            size_t n = runs[r];
            TIMED(ns, 30000000 * bench_scale(), 1000000, {
                uint64_t bpa = bitscan_alloc(&b, n);
                bench_sink((void *)bpa);
                bitscan_free(&b, bpa, n);
            });
            emit_run("bitscan", n, mn, ns);
        }
        /* Its fill: up to 4,096 frames or 10 ms, best of three. */
        double bbest = 0;
        for (int rep = 0; rep < 3; rep++) {
            uint64_t bfirst = 0, t0 = bench_cpu_ns(), w0 = bench_now_ns();
            long bcount = 0;
            while (bcount < 4096 && bench_now_ns() - w0 < 10000000 * bench_scale()) {
                uint64_t bpa = bitscan_alloc(&b, 1);
                if (!bcount)
                    bfirst = bpa;
                bcount++;
            }
            bench_best(&bbest, t0, bcount);
            bitscan_free(&b, bfirst, (size_t)bcount);
        }
        snprintf(key, sizeof(key), "bitscan_fill_%s_ns", mn);
        bench_emit(key, bbest);
        bitscan_fini(&b);

        /* The flat bitmap on the same layout. */
        struct flatbit fb;
        flatbit_init(&fb, bytes, bytes / 2);
        for (int r = 0; r < 3; r++) {
            size_t n = runs[r];
            TIMED(ns, 30000000 * bench_scale(), 50000000, {
                uint64_t fpa = flatbit_alloc(&fb, n);
                bench_sink((void *)fpa);
                flatbit_free(&fb, fpa, n);
            });
            emit_run("flat", n, mn, ns);
        }
        flatbit_fini(&fb);
    }
    run_steady();
}

/* "R <who>_<what>_<map>_ns" and "..._mean_ns". */
static void emit2(const char *who, const char *what, const char *map, double best, double mean)
{
    char key[80];
    snprintf(key, sizeof(key), "%s_%s_%s_ns", who, what, map);
    bench_emit(key, best);
    snprintf(key, sizeof(key), "%s_%s_%s_mean_ns", who, what, map);
    bench_emit(key, mean);
}

/* A core over [1 MiB, bytes) with every frame allocated. */
static void pagoda_setup_full(struct pagoda_map *m, uint64_t bytes)
{
    struct stivale2_mmap_entry map[2] = {
        {0, MiB(1), STIVALE2_MMAP_RESERVED, 0},
        {MiB(1), bytes - MiB(1), STIVALE2_MMAP_USABLE, 0},
    };
    m->bytes = pmm_core_bitmap_bytes(map, 2);
    m->mem = bench_array(m->bytes);
    if (pmm_core_init(&m->core, map, 2, m->mem, 0, m->bytes) != 0)
        die("pmm_core_init failed");
    while (pmm_core_alloc(&m->core, 512) != 0)
        ;
    while (pmm_core_alloc(&m->core, 1) != 0)
        ;
}

/* The random steady state. Setup frees each frame with probability 1/2
 * (the same frames for both allocators) and records the others in live[];
 * a step frees live[i] for a random i and stores the frame it allocates. */
#define RANDOM_SEED 0x5EEDF00D1234567ULL
static uint32_t *random_live(uint64_t nframes, uint64_t *nlive, int (*free1)(void *, uint64_t),
                             void *a)
{
    struct bench_rng r = {RANDOM_SEED};
    uint32_t *live = bench_array(nframes / 2 * 4 + 4096);
    uint64_t n = 0, cap = nframes / 2 + 1024;
    for (uint64_t f = 256; f < nframes; f++) {
        if (bench_rand(&r) >> 63 || n == cap) {
            if (free1(a, f << 12) != 0)
                die("random setup: free failed");
        } else {
            live[n++] = (uint32_t)f;
        }
    }
    *nlive = n;
    return live;
}
static int pagoda_free1(void *a, uint64_t pa) { return pmm_core_free(a, pa, 1); }
static int flat_free1(void *a, uint64_t pa) { return flatbit_free(a, pa, 1); }

/* Both allocators are set up side by side and timed in alternating slices
 * (which one goes first alternates too), so machine noise falls on both. */
static void run_random(const char *mn, uint64_t bytes)
{
    uint64_t nframes = bytes >> 12, nl_p, nl_f;
    struct pagoda_map pm;
    pagoda_setup_full(&pm, bytes);
    struct pmm_core *c = &pm.core;
    uint32_t *lp = random_live(nframes, &nl_p, pagoda_free1, c);
    struct flatbit b;
    flatbit_init(&b, bytes, bytes);
    uint32_t *lf = random_live(nframes, &nl_f, flat_free1, &b);
    struct bench_rng rp = {RANDOM_SEED ^ 1}, rf = {RANDOM_SEED ^ 1};
    long per = bench_iters(50000, 1000), ops = 0;
    double bp = 0, bf = 0;
    uint64_t tp = 0, tf = 0, cap = (uint64_t)(800000000 * bench_scale());
    uint64_t w0 = bench_now_ns();
    for (int s = 0; s < BENCH_SLICES && (s < 3 || bench_now_ns() - w0 < cap); s++) {
        for (int turn = 0; turn < 2; turn++) {
            uint64_t t0 = bench_cpu_ns();
            if ((turn ^ s) & 1) {
                for (long i = 0; i < per; i++) {
                    uint64_t k = bench_rand(&rp) % nl_p;
                    pmm_core_free(c, (paddr_t)lp[k] << 12, 1);
                    lp[k] = (uint32_t)(pmm_core_alloc(c, 1) >> 12);
                }
                tp += bench_cpu_ns() - t0;
                bench_best(&bp, t0, per);
            } else {
                for (long i = 0; i < per; i++) {
                    uint64_t k = bench_rand(&rf) % nl_f;
                    flatbit_free(&b, (uint64_t)lf[k] << 12, 1);
                    lf[k] = (uint32_t)(flatbit_alloc(&b, 1) >> 12);
                }
                tf += bench_cpu_ns() - t0;
                bench_best(&bf, t0, per);
            }
        }
        ops += per;
    }
    emit2("pmm", "random", mn, bp, (double)tp / (double)ops);
    emit2("flat", "random", mn, bf, (double)tf / (double)ops);
    if (pmm_core_check(c) != 0)
        die("random steady state: the core is corrupt");
    bench_array_free(lp, nframes / 2 * 4 + 4096);
    bench_array_free(lf, nframes / 2 * 4 + 4096);
    flatbit_fini(&b);
    pagoda_teardown(&pm);
}

/* The fragmented map: everything allocated, then the upper half freed and
 * one frame at a random place in each word of the lower half. */
#define FRAG_SEED 0xF4A6F4A6ULL
static void run_frag(const char *mn, uint64_t bytes)
{
    static const size_t runs[] = {16, 512};
    uint64_t nframes = bytes >> 12, half = nframes / 2;
    double best, mean;
    char what[32];
    struct pagoda_map pm;
    pagoda_setup_full(&pm, bytes);
    struct pmm_core *c = &pm.core;
    struct flatbit b;
    flatbit_init(&b, bytes, bytes);
    for (uint64_t f = half; f < nframes; f += 512) {
        size_t n = nframes - f < 512 ? nframes - f : 512;
        if (pmm_core_free(c, f << 12, n) != 0 || flatbit_free(&b, f << 12, n) != 0)
            die("frag setup: free of the upper half failed");
    }
    struct bench_rng r = {FRAG_SEED};
    for (uint64_t w = 4; w < half / 64; w++) {
        uint64_t f = w * 64 + bench_rand(&r) % 64;
        if (pmm_core_free(c, f << 12, 1) != 0 || flatbit_free(&b, f << 12, 1) != 0)
            die("frag setup: free failed");
    }
    for (int k = 0; k < 2; k++) {
        size_t n = runs[k];
        snprintf(what, sizeof(what), "frag_contig%zu", n);
        /* The first search after set-up meets every group of the lower
         * half with its class not known yet (frees lifted them all) and
         * computes them: a one-time cost, reported on its own. */
        uint64_t t0 = bench_cpu_ns();
        paddr_t first = pmm_core_alloc(c, n);
        pmm_core_free(c, first, n);
        char key[80];
        snprintf(key, sizeof(key), "pmm_%s_%s_first_ns", what, mn);
        bench_emit(key, (double)(bench_cpu_ns() - t0));
        TIMED2(best, mean, 100000000 * bench_scale(), 2000000, {
            paddr_t pa = pmm_core_alloc(c, n);
            bench_sink((void *)pa);
            pmm_core_free(c, pa, n);
        });
        if (pmm_core_alloc(c, n) >> 12 != half)
            die("frag: the run did not come from the upper half");
        pmm_core_free(c, half << 12, n);
        emit2("pmm", what, mn, best, mean);
        TIMED2(best, mean, 100000000 * bench_scale(), 2000000, {
            uint64_t pa = flatbit_alloc(&b, n);
            bench_sink((void *)pa);
            flatbit_free(&b, pa, n);
        });
        emit2("flat", what, mn, best, mean);
    }
    if (pmm_core_check(c) != 0)
        die("frag: the core is corrupt");
    flatbit_fini(&b);
    pagoda_teardown(&pm);
}

static void run_steady(void)
{
    static const struct map_size rmaps[] = {
        {"128m", MiB(128)}, {"4g", GiB(4)}, {"64g", GiB(64)}, {"256g", GiB(256)}};
    for (size_t k = 0; k < sizeof(rmaps) / sizeof(rmaps[0]); k++)
        run_random(rmaps[k].name, rmaps[k].bytes);
    run_frag("4g", GiB(4));
    run_frag("256g", GiB(256));
}

/* Fixed-count sections for callgrind; "R cg_ops_<label> N" tells run.sh how
 * many operations each dump holds. */
static void cg_section_pagoda(struct pmm_core *c, size_t n, long ops, const char *label)
{
    char key[80];
    BENCH_CG_BEGIN();
    for (long i = 0; i < ops; i++) {
        paddr_t pa = pmm_core_alloc(c, n);
        bench_sink((void *)pa);
        pmm_core_free(c, pa, n);
    }
    BENCH_CG_END(label);
    snprintf(key, sizeof(key), "cg_ops_%s", label);
    bench_emit(key, (double)ops);
}

static void run_callgrind(void)
{
    char label[64];
    BENCH_CG_BEGIN();
    for (long i = 0; i < 10000; i++)
        bench_sink((void *)i);
    BENCH_CG_END("pmm_empty");
    bench_emit("cg_ops_pmm_empty", 10000);
    for (size_t k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
        struct pagoda_map pm;
        pagoda_setup(&pm, maps[k].bytes);
        snprintf(label, sizeof(label), "pmm_pair_%s", maps[k].name);
        cg_section_pagoda(&pm.core, 1, 10000, label);
        if (maps[k].bytes == GiB(4)) {
            cg_section_pagoda(&pm.core, 16, 10000, "pmm_contig16_4g");
            cg_section_pagoda(&pm.core, 512, 10000, "pmm_contig512_4g");
        }
        pagoda_teardown(&pm);
    }
    struct bitscan b;
    bitscan_init(&b, GiB(4), GiB(2));
    BENCH_CG_BEGIN();
    for (int i = 0; i < 10; i++) {
        uint64_t pa = bitscan_alloc(&b, 1);
        bench_sink((void *)pa);
        bitscan_free(&b, pa, 1);
    }
    BENCH_CG_END("bitscan_pair_4g");
    bench_emit("cg_ops_bitscan_pair_4g", 10);
    bitscan_fini(&b);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "run";
    if (strcmp(mode, "run") == 0)
        run_timed();
    else if (strcmp(mode, "steady") == 0)
        run_steady();
    else if (strcmp(mode, "callgrind") == 0)
        run_callgrind();
    else {
        fprintf(stderr, "usage: %s [run|steady|callgrind]\n", argv[0]);
        return 2;
    }
    return 0;
}
