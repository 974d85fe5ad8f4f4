/*
 * The allocator workloads, written once and compiled once per allocator:
 * BENCH_ADAPTER names a header (adapter_<name>.h) that defines BM_NAME,
 * bm_init, bm_malloc, bm_aligned, bm_free, bm_release and bm_footprint as
 * static inlines, so every allocator is called the same way from the same
 * loops. Each allocator gets its own executable; nothing is preloaded.
 *
 *   bench-<name> run        timed workloads 1-5 and the latency samples
 *   bench-<name> frag       fresh process: peak RSS growth over peak live
 *                           bytes on the workload-3 sequence, and the
 *                           legacy footprint column
 *   bench-<name> fragwide   the same on the wide mix
 *   bench-<name> burst      fresh process: 100,000 objects of 8 B-2 KiB,
 *                           all freed in random order, then the
 *                           allocator's release call (none with
 *                           BENCH_NO_RELEASE=1): RSS still held
 *   bench-<name> burst1     the same with 1% of the objects surviving
 *   bench-<name> callgrind  fixed operation counts, one callgrind dump per
 *                           size and per mix, plus an empty loop
 *
 * (The memory modes live in memory_modes.h.)
 *
 * Every timed test reports the fastest slice (<key>) and the total time of
 * its slices over their operations (<key> with _mean before _ns); see the
 * slicer in bench.h. Every pair writes the first byte of its block, as a
 * user would. Random sequences are generated before the clock starts, from
 * fixed seeds, so every allocator sees exactly the same requests.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include BENCH_ADAPTER

#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

static const size_t w1_sizes[] = {16,   64,   256,   1024,  2048,   3000,
                                  4096, 8192, 16384, 65536, 262144, 1048576};
#define NW1 (sizeof(w1_sizes) / sizeof(w1_sizes[0]))
static const size_t w1_aligned[][2] = {{64, 64}, {4096, 4096}, {8192, 4096}}; /* size, align */

/* "R <base>_ns" (fastest slice) and "R <base>_mean_ns". */
static void emit_time(const char *base, const struct bench_slicer *t)
{
    char key[96];
    snprintf(key, sizeof(key), "%s_ns", base);
    bench_emit(key, t->best);
    snprintf(key, sizeof(key), "%s_mean_ns", base);
    bench_emit(key, bench_slicer_mean(t));
}

/* Page-source traffic per operation, for allocators whose adapter can tell
 * (Pagoda: pages taken from / given back to its page source). */
struct page_mark {
    size_t g, s;
};
static inline struct page_mark page_mark(void)
{
    struct page_mark m = {0, 0};
#ifdef BM_PAGE_STATS
    BM_PAGE_STATS(&m.g, &m.s);
#endif
    return m;
}
static void emit_pages(const char *base, struct page_mark m0, long ops)
{
#ifdef BM_PAGE_STATS
    char key[96];
    struct page_mark m1 = page_mark();
    snprintf(key, sizeof(key), "%s_grow_pages_per_op", base);
    bench_emit(key, ops ? (double)(m1.g - m0.g) / (double)ops : 0);
    snprintf(key, sizeof(key), "%s_shrink_pages_per_op", base);
    bench_emit(key, ops ? (double)(m1.s - m0.s) / (double)ops : 0);
#else
    (void)base, (void)m0, (void)ops;
#endif
}

/* ---- workload 1: one malloc+free pair, repeated (aligned: align > 0). */
static void w1_pair(const char *base, size_t size, size_t align)
{
    for (long i = 0; i < 100; i++) { /* warm the size class */
        char *p = align ? bm_aligned(size, align) : bm_malloc(size);
        p[0] = 1;
        bm_free(p);
    }
    struct bench_slicer t;
    struct page_mark m = page_mark();
    bench_slicer_init(&t, bench_budget_ns(1), 1 << 20, 1);
    if (align) {
        BENCH_TIME(t, {
            char *p = bm_aligned(size, align);
            p[0] = 1;
            bench_sink(p);
            bm_free(p);
        });
    } else {
        BENCH_TIME(t, {
            char *p = bm_malloc(size);
            p[0] = 1;
            bench_sink(p);
            bm_free(p);
        });
    }
    emit_time(base, &t);
    if (size >= 2048)
        emit_pages(base, m, t.all_ops);
}

/* ---- workload 2: batches, the shape of glibc's bench-malloc-simple, freed
 * in reverse (LIFO) or allocation (FIFO) order. */
static void w2_batch(const char *base, size_t size, int batch, int fifo)
{
    static void *a[1600];
    struct bench_slicer t;
    bench_slicer_init(&t, bench_budget_ns(0.5), 1 << 16, batch);
    BENCH_TIME(t, {
        for (int i = 0; i < batch; i++) {
            char *p = bm_malloc(size);
            p[0] = 1;
            a[i] = p;
        }
        if (fifo)
            for (int i = 0; i < batch; i++)
                bm_free(a[i]);
        else
            for (int i = batch - 1; i >= 0; i--)
                bm_free(a[i]);
    });
    emit_time(base, &t);
}

/* ---- workload 3: a random mix over 10,000 live objects: each step frees a
 * random slot and allocates a new size into it. Narrow: 8 B-2 KiB uniform;
 * wide: 8 B-64 KiB log-uniform. */
#define W3_LIVE 10000
struct w3_seq {
    uint32_t *init_size; /* W3_LIVE initial sizes */
    uint32_t *slot, *size;
    long steps;
};

static uint32_t w3_size(struct bench_rng *r, int wide)
{
    if (!wide)
        return (uint32_t)bench_range(r, 8, 2048);
    unsigned e = (unsigned)bench_range(r, 3, 15); /* [2^e, 2^(e+1)) */
    uint64_t v = (1u << e) + bench_range(r, 0, (1u << e) - 1);
    return (uint32_t)(v > 65536 ? 65536 : v);
}

static struct w3_seq w3_make(long steps, int wide)
{
    struct bench_rng r = {wide ? 0x7A11D3ULL : 0x9E3779B97F4A7C15ULL};
    struct w3_seq s = {bench_array(W3_LIVE * 4), bench_array((size_t)steps * 4),
                       bench_array((size_t)steps * 4), steps};
    for (int i = 0; i < W3_LIVE; i++)
        s.init_size[i] = w3_size(&r, wide);
    for (long i = 0; i < steps; i++) {
        s.slot[i] = (uint32_t)bench_range(&r, 0, W3_LIVE - 1);
        s.size[i] = w3_size(&r, wide);
    }
    return s;
}

static void w3_free_seq(struct w3_seq *s)
{
    bench_array_free(s->init_size, W3_LIVE * 4);
    bench_array_free(s->slot, (size_t)s->steps * 4);
    bench_array_free(s->size, (size_t)s->steps * 4);
}

struct w3_state {
    char **slot;
    uint32_t *sz;
    size_t live;
};

static void w3_fill(struct w3_state *st, const struct w3_seq *s)
{
    st->slot = bench_array(W3_LIVE * sizeof(char *));
    st->sz = bench_array(W3_LIVE * 4);
    st->live = 0;
    for (int i = 0; i < W3_LIVE; i++) {
        st->slot[i] = bm_malloc(s->init_size[i]);
        st->slot[i][0] = (char)i;
        st->sz[i] = s->init_size[i];
        st->live += st->sz[i];
    }
}

static void w3_drain(struct w3_state *st)
{
    for (int i = 0; i < W3_LIVE; i++)
        bm_free(st->slot[i]);
    bench_array_free(st->slot, W3_LIVE * sizeof(char *));
    bench_array_free(st->sz, W3_LIVE * 4);
}

static inline void w3_step(struct w3_state *st, const struct w3_seq *s, long i)
{
    uint32_t k = s->slot[i], n = s->size[i];
    bm_free(st->slot[k]);
    st->slot[k] = bm_malloc(n);
    st->slot[k][0] = (char)i;
}

/* Timed: the slicer walks the sequence (wrapping around). */
static void w3_timed(const char *base, const struct w3_seq *s)
{
    struct w3_state st;
    w3_fill(&st, s);
    struct bench_slicer t;
    long i = 0;
    bench_slicer_init(&t, bench_budget_ns(2), s->steps / BENCH_SLICES, 1);
    BENCH_TIME(t, {
        w3_step(&st, s, i);
        if (++i == s->steps)
            i = 0;
    });
    emit_time(base, &t);
    w3_drain(&st);
}

/* Latency: every 4th step of the first `steps` timed alone between fenced
 * TSC reads; the cheapest empty measurement is taken off as the fences'
 * own cost. */
static void w3_latency(const char *base, const struct w3_seq *s, long steps)
{
    struct w3_state st;
    w3_fill(&st, s);
    size_t n = (size_t)steps / 4, k = 0;
    uint64_t *lat = bench_array(n * 8), fence = UINT64_MAX;
    for (int i = 0; i < 1000; i++) {
        uint64_t a = bench_tsc_begin(), b = bench_tsc_end();
        if (b - a < fence)
            fence = b - a;
    }
    for (long i = 0; i < steps; i++) {
        if ((i & 3) == 0 && k < n) {
            uint64_t a = bench_tsc_begin();
            w3_step(&st, s, i);
            lat[k++] = bench_tsc_end() - a;
        } else {
            w3_step(&st, s, i);
        }
    }
    bench_emit_percentiles(base, lat, k, fence);
    bench_array_free(lat, n * 8);
    w3_drain(&st);
}

/* ---- workload 4: large blocks (4 KiB .. 1 MiB, log-uniform) with `holes`
 * free holes of 2.1-3.9 KiB prepared first. The holes are kept apart by live
 * separators, so they cannot merge, and no request fits in one: an index
 * that walks holes pays for each of them. */
static void w4_large(const char *base, int holes, long pairs)
{
    struct bench_rng r = {0xC0FFEE1234567ULL + (uint64_t)holes};
    size_t n = 2 * (size_t)holes;
    char **blk = bench_array(n * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        blk[i] = bm_malloc(bench_range(&r, 2150, 3990));
    for (size_t i = 0; i < n; i += 2)
        bm_free(blk[i]);
    uint32_t *req = bench_array((size_t)pairs * 4);
    for (long i = 0; i < pairs; i++) { /* 2^12 .. 2^20, log-uniform */
        unsigned e = (unsigned)bench_range(&r, 12, 19);
        req[i] = (uint32_t)((1u << e) + bench_range(&r, 0, (1u << e)));
    }
    for (long i = 0; i < 200; i++) { /* warm-up on the same pattern */
        char *p = bm_malloc(req[i % pairs]);
        p[0] = 1;
        bm_free(p);
    }
    struct bench_slicer t;
    struct page_mark m = page_mark();
    long i = 0;
    bench_slicer_init(&t, bench_budget_ns(1), pairs / BENCH_SLICES, 1);
    BENCH_TIME(t, {
        char *p = bm_malloc(req[i]);
        p[0] = (char)i;
        bench_sink(p);
        bm_free(p);
        if (++i == pairs)
            i = 0;
    });
    emit_time(base, &t);
    emit_pages(base, m, t.all_ops);
    for (size_t k = 1; k < n; k += 2)
        bm_free(blk[k]);
    bench_array_free(blk, n * sizeof(char *));
    bench_array_free(req, (size_t)pairs * 4);
}

/* ---- workload 5: larson-style server, one thread. 5,000 connection
 * buffers of 8-1000 B; each request allocates a short-lived 64-256 B parse
 * buffer, replaces one random connection's buffer, writes both ends of it,
 * and frees the parse buffer. */
#define W5_SLOTS 5000
static void w5_larson(const char *base, long requests)
{
    struct bench_rng r = {0x1A450Bull};
    uint32_t *op = bench_array((size_t)requests * 8);
    for (long i = 0; i < requests; i++) {
        op[2 * i] = (uint32_t)(bench_range(&r, 0, W5_SLOTS - 1) << 10 | bench_range(&r, 8, 1000));
        op[2 * i + 1] = (uint32_t)bench_range(&r, 64, 256);
    }
    char **slot = bench_array(W5_SLOTS * sizeof(char *));
    for (int i = 0; i < W5_SLOTS; i++) {
        slot[i] = bm_malloc(bench_range(&r, 8, 1000));
        slot[i][0] = 1;
    }
    struct bench_slicer t;
    long i = 0;
    bench_slicer_init(&t, bench_budget_ns(1), requests / BENCH_SLICES, 1);
    BENCH_TIME(t, {
        uint32_t k = op[2 * i] >> 10, n = op[2 * i] & 0x3ff;
        char *tmp = bm_malloc(op[2 * i + 1]);
        tmp[0] = (char)i;
        bm_free(slot[k]);
        char *p = bm_malloc(n);
        p[0] = tmp[0];
        p[n - 1] = (char)n;
        slot[k] = p;
        bench_sink(tmp);
        bm_free(tmp);
        if (++i == requests)
            i = 0;
    });
    emit_time(base, &t);
    for (int k = 0; k < W5_SLOTS; k++)
        bm_free(slot[k]);
    bench_array_free(slot, W5_SLOTS * sizeof(char *));
    bench_array_free(op, (size_t)requests * 8);
}

static void run_timed(void)
{
    char key[96];
    for (size_t i = 0; i < NW1; i++) {
        snprintf(key, sizeof(key), "w1_pair_%zu", w1_sizes[i]);
        w1_pair(key, w1_sizes[i], 0);
    }
    for (size_t i = 0; i < sizeof(w1_aligned) / sizeof(w1_aligned[0]); i++) {
        snprintf(key, sizeof(key), "w1_aligned_%zu_%zu", w1_aligned[i][0], w1_aligned[i][1]);
        w1_pair(key, w1_aligned[i][0], w1_aligned[i][1]);
    }
    static const int batches[] = {25, 100, 400, 1600};
    static const size_t bsizes[] = {16, 32, 64};
    for (int fifo = 0; fifo < 2; fifo++)
        for (int b = 0; b < 4; b++)
            for (int s = 0; s < 3; s++) {
                snprintf(key, sizeof(key), "w2_%s_%d_%zu", fifo ? "fifo" : "lifo", batches[b],
                         bsizes[s]);
                w2_batch(key, bsizes[s], batches[b], fifo);
            }
    struct w3_seq s3 = w3_make(bench_iters(1000000, 40000), 0);
    w3_timed("w3_mix", &s3);
    w3_latency("w3_mix_lat", &s3, bench_iters(600000, 20000));
    w3_free_seq(&s3);
    struct w3_seq s3w = w3_make(bench_iters(600000, 40000), 1);
    w3_timed("w3_mix_wide", &s3w);
    w3_latency("w3_mix_wide_lat", &s3w, bench_iters(300000, 20000));
    w3_free_seq(&s3w);
    static const int holes[] = {10, 1000, 10000};
    for (int h = 0; h < 3; h++) {
        snprintf(key, sizeof(key), "w4_large_holes_%d", holes[h]);
        w4_large(key, holes[h], bench_iters(50000, 2000));
    }
    w5_larson("w5_larson", bench_iters(2000000, 20000));
}

#include "memory_modes.h"

/* Callgrind: warm, then collect exactly CG_PAIRS pairs per size (and
 * CG_STEPS steps of each mix), and the same loop without the allocator as
 * the baseline. */
#define CG_PAIRS 10000
#define CG_STEPS 20000
static void run_callgrind(void)
{
    char label[64];
    BENCH_CG_BEGIN();
    for (long i = 0; i < CG_PAIRS; i++)
        bench_sink((void *)i);
    BENCH_CG_END("w1_empty");
    for (size_t k = 0; k < NW1 + 3; k++) {
        size_t size = k < NW1 ? w1_sizes[k] : w1_aligned[k - NW1][0];
        size_t align = k < NW1 ? 0 : w1_aligned[k - NW1][1];
        for (long i = 0; i < 100; i++) {
            char *p = align ? bm_aligned(size, align) : bm_malloc(size);
            p[0] = 1;
            bm_free(p);
        }
        BENCH_CG_BEGIN();
        for (long i = 0; i < CG_PAIRS; i++) {
            char *p = align ? bm_aligned(size, align) : bm_malloc(size);
            p[0] = 1;
            bench_sink(p);
            bm_free(p);
        }
        if (align)
            snprintf(label, sizeof(label), "w1a_%zu_%zu", size, align);
        else
            snprintf(label, sizeof(label), "w1_%zu", size);
        BENCH_CG_END(label);
    }
    for (int wide = 0; wide < 2; wide++) {
        struct w3_seq s = w3_make(CG_STEPS, wide);
        struct w3_state st;
        w3_fill(&st, &s);
        BENCH_CG_BEGIN();
        for (long i = 0; i < CG_STEPS; i++)
            w3_step(&st, &s, i);
        BENCH_CG_END(wide ? "w3_wide" : "w3");
        w3_drain(&st);
        w3_free_seq(&s);
    }
    bench_emit("cg_pairs", CG_PAIRS);
    bench_emit("cg_steps", CG_STEPS);
}

#ifdef BM_EXTRA
/* Adapters may add allocator-specific workloads (Pagoda's slab). */
static void bm_extra(const char *mode);
#include BM_EXTRA
#endif

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "run";
    bm_init();
    if (strcmp(mode, "run") == 0)
        run_timed();
    else if (strcmp(mode, "frag") == 0)
        run_frag(0);
    else if (strcmp(mode, "fragwide") == 0)
        run_frag(1);
    else if (strcmp(mode, "burst") == 0)
        run_burst(0);
    else if (strcmp(mode, "burst1") == 0)
        run_burst(1);
    else if (strcmp(mode, "callgrind") == 0)
        run_callgrind();
    else {
        fprintf(stderr, "usage: %s [run|frag|fragwide|burst|burst1|callgrind]\n", argv[0]);
        return 2;
    }
#ifdef BM_EXTRA
    bm_extra(mode);
#endif
    return 0;
}
