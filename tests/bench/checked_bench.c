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
 *                       the pair at 16-1024 B and the workload-3 mix,
 *                       and "R chk_<test>_ratio" (checked / unchecked of
 *                       the fastest slices)
 */
#include "bench.h"

#include <dlfcn.h>
#include <limits.h>
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

struct result {
    double best;
    uint64_t ns;
    long ops;
};

static void emit(const char *test, const struct heap *h, const struct result *r)
{
    char key[96];
    snprintf(key, sizeof(key), "chk_%s_%s_ns", test, h->name);
    bench_emit(key, r->best);
    snprintf(key, sizeof(key), "chk_%s_%s_mean_ns", test, h->name);
    bench_emit(key, r->ops ? (double)r->ns / (double)r->ops : 0);
}

static void slice_done(struct result *r, uint64_t t0, long ops)
{
    uint64_t dt = bench_cpu_ns() - t0;
    double v = (double)dt / (double)ops;
    if (r->best == 0 || v < r->best)
        r->best = v;
    r->ns += dt;
    r->ops += ops;
}

static void pair(struct heap *hs, size_t size)
{
    struct result res[2] = {{0}};
    long per = bench_iters(100000, 2000);
    for (int k = 0; k < 2; k++) /* warm both */
        for (int i = 0; i < 1000; i++) {
            char *p = hs[k].alloc(size);
            p[0] = 1;
            hs[k].release(p);
        }
    for (int s = 0; s < BENCH_SLICES; s++)
        for (int t = 0; t < 2; t++) {
            struct heap *h = &hs[(s + t) & 1];
            uint64_t t0 = bench_cpu_ns();
            for (long i = 0; i < per; i++) {
                char *p = h->alloc(size);
                p[0] = 1;
                bench_sink(p);
                h->release(p);
            }
            slice_done(&res[(s + t) & 1], t0, per);
        }
    char test[32];
    snprintf(test, sizeof(test), "pair_%zu", size);
    emit(test, &hs[0], &res[0]);
    emit(test, &hs[1], &res[1]);
    char key[48];
    snprintf(key, sizeof(key), "chk_%s_ratio", test);
    bench_emit(key, res[0].best / res[1].best);
}

/* Workload 3's mix (8 B-2 KiB over 10,000 live objects), one state per
 * heap, the same sequence for both. */
#define LIVE 10000
static void mix(struct heap *hs)
{
    long steps = bench_iters(2000000, 40000), per = steps / BENCH_SLICES;
    struct bench_rng r = {0x9E3779B97F4A7C15ULL};
    uint32_t *slot = bench_array((size_t)steps * 4), *size = bench_array((size_t)steps * 4);
    char **live[2] = {bench_array(LIVE * sizeof(char *)), bench_array(LIVE * sizeof(char *))};
    for (int i = 0; i < LIVE; i++) {
        uint32_t n = (uint32_t)bench_range(&r, 8, 2048);
        for (int k = 0; k < 2; k++) {
            live[k][i] = hs[k].alloc(n);
            live[k][i][0] = 1;
        }
    }
    for (long i = 0; i < steps; i++) {
        slot[i] = (uint32_t)bench_range(&r, 0, LIVE - 1);
        size[i] = (uint32_t)bench_range(&r, 8, 2048);
    }
    struct result res[2] = {{0}};
    for (int s = 0; s < BENCH_SLICES; s++)
        for (int t = 0; t < 2; t++) {
            int k = (s + t) & 1;
            struct heap *h = &hs[k];
            char **l = live[k];
            uint64_t t0 = bench_cpu_ns();
            for (long i = s * per; i < (s + 1) * per; i++) {
                h->release(l[slot[i]]);
                l[slot[i]] = h->alloc(size[i]);
                l[slot[i]][0] = (char)i;
            }
            slice_done(&res[k], t0, per);
        }
    emit("mix", &hs[0], &res[0]);
    emit("mix", &hs[1], &res[1]);
    bench_emit("chk_mix_ratio", res[0].best / res[1].best);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < LIVE; i++)
            hs[k].release(live[k][i]);
        bench_array_free(live[k], LIVE * sizeof(char *));
    }
    bench_array_free(slot, (size_t)steps * 4);
    bench_array_free(size, (size_t)steps * 4);
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
    struct heap hs[2];
    const char *sw = getenv("BENCH_CHECKED_SWAP");
    if (sw && *sw == '1') {
        load(&hs[1], dir, "libpagoda_bench_unchecked.so", "unchecked");
        load(&hs[0], dir, "libpagoda_bench.so", "checked");
    } else {
        load(&hs[0], dir, "libpagoda_bench.so", "checked");
        load(&hs[1], dir, "libpagoda_bench_unchecked.so", "unchecked");
    }
    static const size_t sizes[] = {16, 64, 256, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        pair(hs, sizes[i]);
    mix(hs);
    return 0;
}
