/*
 * What the heap's always-on free checks cost: the shipped heap
 * (libpagoda_bench.so) and the same sources built with
 * -DPAGODA_HEAP_UNCHECKED (libpagoda_bench_unchecked.so), loaded side by
 * side into one process (RTLD_LOCAL; each library binds its own symbols)
 * and timed in alternating slices, so that whatever the machine does to
 * one (a busy sibling hyperthread, another process's cache traffic) it
 * does to the other too. Both are called through function pointers.
 *
 *   bench-checked run   "R chk_<test>_<build>_ns" (fastest slice) and
 *                       "..._mean_ns" (CPU time over all operations) for
 *                       the pair at 16-1024 B and the workload-3 mix
 *                       ("mix": each slice warmed up, see warm_up;
 *                       "mix_cold": not);
 *                       "R chk_<test>_ratio" (checked / unchecked: the
 *                       median over rounds of paired slices, see ROUNDS),
 *                       "..._ratio_best" (of the fastest slices) and
 *                       "..._control_ratio" (a second copy of the
 *                       unchecked build against the first: the method's
 *                       own error, which should read 1.00)
 */
#include "bench.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct heap {
    const char *name;
    void (*init)(int harden);
    void *(*alloc)(size_t);
    void (*release)(void *);
};

static void load(struct heap *h, const char *dir, const char *lib, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, lib);
    void *d = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!d) {
        fprintf(stderr, "bench-checked: %s\n", dlerror());
        exit(2);
    }
    h->name = name;
    h->init = (void (*)(int))dlsym(d, "pagoda_bench_init");
    h->alloc = (void *(*)(size_t))dlsym(d, "kmalloc");
    h->release = (void (*)(void *))dlsym(d, "kfree");
    if (!h->init || !h->alloc || !h->release) {
        fprintf(stderr, "bench-checked: %s lacks a symbol\n", path);
        exit(2);
    }
    h->init(-1);
}

/* Rounds: each times one slice of every heap back to back, in an order
 * that rotates from round to round (so no heap always runs first, or right
 * after the same one). A round's ratio pairs slices taken a few hundred
 * microseconds apart, so a drift of the machine (clock, a busy sibling
 * core) cancels; the median of the rounds' ratios ignores the rounds an
 * interrupt or a preemption hit. The fastest slice of each heap is
 * reported beside it. */
#define ROUNDS (4 * BENCH_SLICES)
#define MAXH 3

struct result {
    double best;
    uint64_t ns;
    long ops;
    double slice[ROUNDS];
};

static void emit(const char *test, const struct heap *h, const struct result *r)
{
    char key[96];
    snprintf(key, sizeof(key), "chk_%s_%s_ns", test, h->name);
    bench_emit(key, r->best);
    snprintf(key, sizeof(key), "chk_%s_%s_mean_ns", test, h->name);
    bench_emit(key, r->ops ? (double)r->ns / (double)r->ops : 0);
}

static void slice_done(struct result *r, int round, uint64_t t0, long ops)
{
    uint64_t dt = bench_cpu_ns() - t0;
    double v = (double)dt / (double)ops;
    if (r->best == 0 || v < r->best)
        r->best = v;
    r->slice[round] = v;
    r->ns += dt;
    r->ops += ops;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median over the rounds of a's slice / b's slice. */
static double paired_median(const struct result *a, const struct result *b)
{
    static double q[ROUNDS];
    for (int i = 0; i < ROUNDS; i++)
        q[i] = a->slice[i] / b->slice[i];
    qsort(q, ROUNDS, sizeof(q[0]), cmp_double);
    return (q[ROUNDS / 2 - 1] + q[ROUNDS / 2]) / 2;
}

/* Emit test's figures: per heap, then "chk_<test>_ratio" (checked /
 * unchecked, the paired median), "..._ratio_best" (of the fastest slices)
 * and, with a control heap (a second copy of the unchecked build),
 * "chk_<test>_control_ratio": what the method reads between two identical
 * builds, i.e. its own error. */
static void emit_all(const char *test, const struct heap *hs, int nh, const struct result *res)
{
    char key[96];
    for (int k = 0; k < nh; k++)
        emit(test, &hs[k], &res[k]);
    snprintf(key, sizeof(key), "chk_%s_ratio", test);
    bench_emit(key, paired_median(&res[0], &res[1]));
    snprintf(key, sizeof(key), "chk_%s_ratio_best", test);
    bench_emit(key, res[0].best / res[1].best);
    if (nh > 2) {
        snprintf(key, sizeof(key), "chk_%s_control_ratio", test);
        bench_emit(key, paired_median(&res[2], &res[1]));
    }
}

/* The heap that runs t-th in round s. */
static int order(int s, int t, int nh)
{
    int k = (s + t) % nh;
    return (s / nh) & 1 ? nh - 1 - k : k; /* every other cycle reversed */
}

static void pair(struct heap *hs, int nh, size_t size)
{
    static struct result res[MAXH];
    memset(res, 0, sizeof(res));
    long per = bench_iters(100000, 2000) * BENCH_SLICES / ROUNDS;
    for (int k = 0; k < nh; k++) /* warm all */
        for (int i = 0; i < 1000; i++) {
            char *p = hs[k].alloc(size);
            p[0] = 1;
            hs[k].release(p);
        }
    for (int s = 0; s < ROUNDS; s++)
        for (int t = 0; t < nh; t++) {
            int k = order(s, t, nh);
            struct heap *h = &hs[k];
            uint64_t t0 = bench_cpu_ns();
            for (long i = 0; i < per; i++) {
                char *p = h->alloc(size);
                p[0] = 1;
                bench_sink(p);
                h->release(p);
            }
            slice_done(&res[k], s, t0, per);
        }
    char test[32];
    snprintf(test, sizeof(test), "pair_%zu", size);
    emit_all(test, hs, nh, res);
}

/* Before a slice of the warm mix: read the first line of each of the
 * heap's live objects (untimed). Three heaps' objects in one process do not
 * fit the L2 cache one heap's do (10,000 lines, 640 KiB): without this, each
 * slice would start from lines the other heaps' slices evicted, a state the
 * workload run alone (as in every other table) never sees, and a free that
 * reads its block (the free key) would pay for it an L3 miss that the
 * unchecked build's free, which reads nothing, does not. The cold mix, run
 * too, reports that case. */
static void warm_up(char **l, int n)
{
    unsigned x = 0;
    for (int j = 0; j < n; j++)
        x += (unsigned char)l[j][0];
    bench_sink((void *)(uintptr_t)x);
}

/* Workload 3's mix (8 B-2 KiB over 10,000 live objects), one state per
 * heap, the same sequence for all; "mix" with each slice warmed up,
 * "mix_cold" without. */
#define LIVE 10000
static void mix(struct heap *hs, int nh, bool warm)
{
    long steps = bench_iters(2000000, 40000), per = steps / ROUNDS;
    struct bench_rng r = {0x9E3779B97F4A7C15ULL};
    uint32_t *slot = bench_array((size_t)steps * 4), *size = bench_array((size_t)steps * 4);
    char **live[MAXH];
    for (int k = 0; k < nh; k++)
        live[k] = bench_array(LIVE * sizeof(char *));
    for (int i = 0; i < LIVE; i++) {
        uint32_t n = (uint32_t)bench_range(&r, 8, 2048);
        for (int k = 0; k < nh; k++) {
            live[k][i] = hs[k].alloc(n);
            live[k][i][0] = 1;
        }
    }
    for (long i = 0; i < steps; i++) {
        slot[i] = (uint32_t)bench_range(&r, 0, LIVE - 1);
        size[i] = (uint32_t)bench_range(&r, 8, 2048);
    }
    static struct result res[MAXH];
    memset(res, 0, sizeof(res));
    for (int s = 0; s < ROUNDS; s++)
        for (int t = 0; t < nh; t++) {
            int k = order(s, t, nh);
            struct heap *h = &hs[k];
            char **l = live[k];
            if (warm)
                warm_up(l, LIVE);
            uint64_t t0 = bench_cpu_ns();
            for (long i = s * per; i < (s + 1) * per; i++) {
                h->release(l[slot[i]]);
                l[slot[i]] = h->alloc(size[i]);
                l[slot[i]][0] = (char)i;
            }
            slice_done(&res[k], s, t0, per);
        }
    emit_all(warm ? "mix" : "mix_cold", hs, nh, res);
    for (int k = 0; k < nh; k++) {
        for (int i = 0; i < LIVE; i++)
            hs[k].release(live[k][i]);
        bench_array_free(live[k], LIVE * sizeof(char *));
    }
    bench_array_free(slot, (size_t)steps * 4);
    bench_array_free(size, (size_t)steps * 4);
}

/* A second copy of the unchecked library under another name (dlopen of the
 * same path would return the same handle): the control. */
static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out && fclose(out))
        ok = 0;
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
    if (n <= 0) {
        perror("bench-checked: /proc/self/exe");
        return 2;
    }
    dir[n] = 0;
    *strrchr(dir, '/') = 0;
    if (argc > 1 && strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: %s [run]\n", argv[0]);
        return 2;
    }
    /* BENCH_CHECKED_SWAP=1 loads (and sets up) the unchecked build first:
     * run.sh swaps from one run to the next, so that neither build always
     * gets the first place in memory. */
    struct heap hs[MAXH];
    const char *sw = getenv("BENCH_CHECKED_SWAP");
    if (sw && *sw == '1') {
        load(&hs[1], dir, "libpagoda_bench_unchecked.so", "unchecked");
        load(&hs[0], dir, "libpagoda_bench.so", "checked");
    } else {
        load(&hs[0], dir, "libpagoda_bench.so", "checked");
        load(&hs[1], dir, "libpagoda_bench_unchecked.so", "unchecked");
    }
    int nh = 2;
    char from[PATH_MAX + 64], tmpdir[] = "/tmp/pagoda-bench-checked-XXXXXX";
    snprintf(from, sizeof(from), "%s/libpagoda_bench_unchecked.so", dir);
    if (mkdtemp(tmpdir)) {
        char to[sizeof(tmpdir) + 32];
        snprintf(to, sizeof(to), "%s/libpagoda_bench_control.so", tmpdir);
        if (copy_file(from, to) == 0) {
            load(&hs[2], tmpdir, "libpagoda_bench_control.so", "control");
            nh = 3;
        }
        unlink(to); /* the mapping stays */
        rmdir(tmpdir);
    }
    static const size_t sizes[] = {16, 64, 256, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        pair(hs, nh, sizes[i]);
    mix(hs, nh, true);
    mix(hs, nh, false);
    return 0;
}
