/*
 * The allocator workloads 1-6, written once and compiled once per
 * allocator: BENCH_ADAPTER names a header (adapter_<name>.h) that defines
 * BM_NAME, bm_init, bm_malloc, bm_free and bm_footprint as static inlines, so
 * every allocator is called the same way from the same loops. Each
 * allocator gets its own executable; nothing is preloaded.
 *
 *   bench-<name> run        timed workloads 1-5 (ns per operation)
 *   bench-<name> frag       workload 6, in a fresh process: peak footprint
 *                           over peak live bytes on the workload-3 sequence
 *   bench-<name> callgrind  workload 1 with a fixed number of pairs, one
 *                           callgrind dump per size plus an empty loop
 *
 * Random sequences are generated before the clock starts, from fixed seeds,
 * so every allocator sees exactly the same requests.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include BENCH_ADAPTER

static const size_t w1_sizes[] = {16, 64, 256, 1024, 2048};

/* ---- workload 1: one malloc+free pair, repeated. */
static double w1_pair(size_t size, long n)
{
    for (long i = 0; i < 1000; i++) { /* warm the size class */
        void *p = bm_malloc(size);
        bench_sink(p);
        bm_free(p);
    }
    double best = 0;
    for (int s = 0; s < BENCH_SLICES; s++) {
        uint64_t t0 = bench_now_ns();
        for (long i = 0; i < n / BENCH_SLICES; i++) {
            void *p = bm_malloc(size);
            bench_sink(p);
            bm_free(p);
        }
        bench_best(&best, t0, n / BENCH_SLICES);
    }
    return best;
}

/* ---- workload 2: LIFO batches, the shape of glibc's bench-malloc-simple. */
static double w2_batch(size_t size, int batch, long total_pairs)
{
    void *a[1600];
    long rounds = total_pairs / batch / BENCH_SLICES;
    double best = 0;
    for (int s = 0; s < BENCH_SLICES; s++) {
        uint64_t t0 = bench_now_ns();
        for (long r = 0; r < rounds; r++) {
            for (int i = 0; i < batch; i++) {
                a[i] = bm_malloc(size);
                bench_sink(a[i]);
            }
            for (int i = batch - 1; i >= 0; i--)
                bm_free(a[i]);
        }
        bench_best(&best, t0, rounds * batch);
    }
    return best;
}

/* ---- workload 3: random mix of 8 B .. 2 KiB over 10,000 live objects. */
#define W3_LIVE 10000
struct w3_seq {
    uint32_t *init_size; /* W3_LIVE initial sizes */
    uint32_t *op;        /* per step: slot << 12 | size */
    long steps;
};

static struct w3_seq w3_make(long steps)
{
    struct bench_rng r = {0x9E3779B97F4A7C15ULL};
    struct w3_seq s = {bench_array(W3_LIVE * 4), bench_array((size_t)steps * 4), steps};
    for (int i = 0; i < W3_LIVE; i++)
        s.init_size[i] = (uint32_t)bench_range(&r, 8, 2048);
    for (long i = 0; i < steps; i++)
        s.op[i] = (uint32_t)(bench_range(&r, 0, W3_LIVE - 1) << 12 | bench_range(&r, 8, 2048));
    return s;
}

/* Runs the sequence; with `track`, follows live bytes and samples the
 * allocator's footprint, returning footprint/live peaks through the
 * pointers. Returns ns per step (meaningless when tracking). */
static double w3_run(const struct w3_seq *s, int track, size_t *peak_fp, size_t *peak_live)
{
    char **slot = bench_array(W3_LIVE * sizeof(char *));
    uint32_t *sz = bench_array(W3_LIVE * 4);
    size_t live = 0, pl = 0, pf = 0;
    for (int i = 0; i < W3_LIVE; i++) {
        slot[i] = bm_malloc(s->init_size[i]);
        slot[i][0] = (char)i;
        sz[i] = s->init_size[i];
        live += sz[i];
    }
    if (track) {
        pl = live;
        pf = bm_footprint();
    }
    double ns = 0;
    long slice = s->steps / BENCH_SLICES;
    for (long i0 = 0; i0 + slice <= s->steps; i0 += slice) {
        uint64_t t0 = bench_now_ns();
        for (long i = i0; i < i0 + slice; i++) {
            uint32_t k = s->op[i] >> 12, n = s->op[i] & 0xfff;
            bm_free(slot[k]);
            slot[k] = bm_malloc(n);
            slot[k][0] = (char)i;
            if (track) {
                live = live - sz[k] + n;
                sz[k] = n;
                if (live > pl)
                    pl = live;
                if ((i & 63) == 0) {
                    size_t f = bm_footprint();
                    if (f > pf)
                        pf = f;
                }
            }
        }
        bench_best(&ns, t0, slice);
    }
    if (track) {
        size_t f = bm_footprint();
        *peak_fp = f > pf ? f : pf;
#ifdef BM_PEAK_FOOTPRINT /* exact, where the adapter tracks it */
        *peak_fp = BM_PEAK_FOOTPRINT();
#endif
        *peak_live = pl;
    }
    for (int i = 0; i < W3_LIVE; i++)
        bm_free(slot[i]);
    bench_array_free(slot, W3_LIVE * sizeof(char *));
    bench_array_free(sz, W3_LIVE * 4);
    return ns;
}

/* ---- workload 4: large blocks (4 KiB .. 1 MiB, log-uniform) with `holes`
 * free holes of 2.1-3.9 KiB prepared first. The holes are kept apart by live
 * separators, so they cannot merge, and no request fits in one: an index
 * that walks holes pays for each of them. */
static double w4_large(int holes, long pairs)
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
    double ns = 0;
    long slice = pairs / BENCH_SLICES;
    for (int s = 0; s < BENCH_SLICES; s++) {
        uint64_t t0 = bench_now_ns();
        for (long i = s * slice; i < (s + 1) * slice; i++) {
            char *p = bm_malloc(req[i]);
            p[0] = (char)i;
            bench_sink(p);
            bm_free(p);
        }
        bench_best(&ns, t0, slice);
    }
    for (size_t i = 1; i < n; i += 2)
        bm_free(blk[i]);
    bench_array_free(blk, n * sizeof(char *));
    bench_array_free(req, (size_t)pairs * 4);
    return ns;
}

/* ---- workload 5: larson-style server, one thread. 5,000 connection
 * buffers of 8-1000 B; each request allocates a short-lived 64-256 B parse
 * buffer, replaces one random connection's buffer, writes both ends of it,
 * and frees the parse buffer. */
#define W5_SLOTS 5000
static double w5_larson(long requests)
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
    double ns = 0;
    long slice = requests / BENCH_SLICES;
    for (long i0 = 0; i0 + slice <= requests; i0 += slice) {
        uint64_t t0 = bench_now_ns();
        for (long i = i0; i < i0 + slice; i++) {
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
        }
        bench_best(&ns, t0, slice);
    }
    for (int i = 0; i < W5_SLOTS; i++)
        bm_free(slot[i]);
    bench_array_free(slot, W5_SLOTS * sizeof(char *));
    bench_array_free(op, (size_t)requests * 8);
    return ns;
}

static void run_timed(void)
{
    char key[64];
    long n1 = bench_iters(10000000, 20000);
    for (size_t i = 0; i < sizeof(w1_sizes) / sizeof(w1_sizes[0]); i++) {
        snprintf(key, sizeof(key), "w1_pair_%zu_ns", w1_sizes[i]);
        bench_emit(key, w1_pair(w1_sizes[i], n1));
    }
    static const int batches[] = {25, 100, 400, 1600};
    static const size_t bsizes[] = {16, 32, 64};
    long n2 = bench_iters(2400000, 9600);
    for (int b = 0; b < 4; b++)
        for (int s = 0; s < 3; s++) {
            snprintf(key, sizeof(key), "w2_lifo_%d_%zu_ns", batches[b], bsizes[s]);
            bench_emit(key, w2_batch(bsizes[s], batches[b], n2));
        }
    struct w3_seq s3 = w3_make(bench_iters(2000000, 20000));
    bench_emit("w3_mix_ns", w3_run(&s3, 0, NULL, NULL));
    static const int holes[] = {10, 1000, 10000};
    for (int h = 0; h < 3; h++) {
        snprintf(key, sizeof(key), "w4_large_holes_%d_ns", holes[h]);
        bench_emit(key, w4_large(holes[h], bench_iters(50000, 1000)));
    }
    bench_emit("w5_larson_ns", w5_larson(bench_iters(2000000, 10000)));
}

static void run_frag(void)
{
    struct w3_seq s3 = w3_make(bench_iters(1000000, 20000));
    size_t fp = 0, live = 0;
    w3_run(&s3, 1, &fp, &live);
    bench_emit("w6_peak_footprint_bytes", (double)fp);
    bench_emit("w6_peak_live_bytes", (double)live);
    if (fp)
        bench_emit("w6_footprint_over_live", (double)fp / (double)live);
}

/* Workload 1 under callgrind: warm, then collect exactly CG_PAIRS pairs per
 * size, and the same loop without the allocator as the baseline. */
#define CG_PAIRS 10000
static void run_callgrind(void)
{
    char label[64];
    BENCH_CG_BEGIN();
    for (long i = 0; i < CG_PAIRS; i++)
        bench_sink((void *)i);
    BENCH_CG_END("w1_empty");
    for (size_t k = 0; k < sizeof(w1_sizes) / sizeof(w1_sizes[0]); k++) {
        size_t size = w1_sizes[k];
        w1_pair(size, 1000);
        BENCH_CG_BEGIN();
        for (long i = 0; i < CG_PAIRS; i++) {
            void *p = bm_malloc(size);
            bench_sink(p);
            bm_free(p);
        }
        snprintf(label, sizeof(label), "w1_%zu", size);
        BENCH_CG_END(label);
    }
    bench_emit("cg_pairs", CG_PAIRS);
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
        run_frag();
    else if (strcmp(mode, "callgrind") == 0)
        run_callgrind();
    else {
        fprintf(stderr, "usage: %s [run|frag|callgrind]\n", argv[0]);
        return 2;
    }
#ifdef BM_EXTRA
    bm_extra(mode);
#endif
    return 0;
}
