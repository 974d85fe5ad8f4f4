/* The non-inline helpers of bench.h, linked into every bench executable. */
#include "bench.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

void *bench_array(size_t bytes)
{
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        perror("bench: mmap");
        exit(2);
    }
    return p;
}

void bench_array_free(void *p, size_t bytes) { munmap(p, bytes ? bytes : 1); }

void bench_emit(const char *key, double value)
{
    printf("R %s %.6g\n", key, value);
    fflush(stdout);
}

double bench_scale(void)
{
    static double scale;
    if (scale == 0) {
        const char *s = getenv("BENCH_SCALE");
        scale = s ? atof(s) : 1.0;
        if (scale <= 0)
            scale = 1.0;
    }
    return scale;
}

long bench_iters(long n, long min)
{
    long v = (long)((double)n * bench_scale());
    return v < min ? min : v;
}

void bench_slicer_init(struct bench_slicer *t, uint64_t budget_ns, long max_units,
                       long ops_per_unit)
{
    memset(t, 0, sizeof(*t));
    t->units = max_units < 16 ? max_units : 16;
    t->max_units = max_units;
    t->ops_per_unit = ops_per_unit;
    t->budget = budget_ns;
    t->calibrating = 1;
}

int bench_slicer_more(const struct bench_slicer *t)
{
    if (t->calibrating)
        return 1;
    return t->slice < BENCH_SLICES && (t->slice < 5 || bench_now_ns() - t->start < t->budget);
}

void bench_slicer_done(struct bench_slicer *t, uint64_t t0)
{
    uint64_t now = bench_now_ns(), dt = bench_cpu_ns() - t0;
    long ops = t->units * t->ops_per_unit;
    t->all_ops += ops;
    if (t->calibrating) {
        if (dt < t->budget / (2 * BENCH_SLICES) && t->units * 2 <= t->max_units) {
            t->units *= 2;
        } else {
            t->calibrating = 0;
            t->start = now;
        }
        return;
    }
    double v = (double)dt / (double)ops;
    if (t->best == 0 || v < t->best)
        t->best = v;
    t->ns += dt;
    t->ops += ops;
    t->slice++;
}

uint64_t bench_budget_ns(double factor)
{
    const char *s = getenv("BENCH_BUDGET_MS");
    double ms = s ? atof(s) : 40;
    if (ms <= 0)
        ms = 40;
    return (uint64_t)(ms * 1e6 * factor * bench_scale());
}

double bench_tsc_per_ns(void)
{
    static double v;
    if (v == 0) {
        uint64_t c0 = bench_tsc_begin(), t0 = bench_now_ns();
        while (bench_now_ns() - t0 < 20000000)
            ;
        uint64_t c1 = bench_tsc_end(), t1 = bench_now_ns();
        v = (double)(c1 - c0) / (double)(t1 - t0);
    }
    return v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void bench_emit_percentiles(const char *prefix, uint64_t *samples, size_t n, uint64_t base)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p99", 0.99}, {"p999", 0.999}, {"max", 1.0}};
    char key[96];
    if (!n)
        return;
    qsort(samples, n, sizeof(*samples), cmp_u64);
    double per_ns = bench_tsc_per_ns();
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        size_t k = (size_t)(qs[i].q * (double)(n - 1));
        uint64_t v = samples[k] > base ? samples[k] - base : 0;
        snprintf(key, sizeof(key), "%s_%s_ns", prefix, qs[i].name);
        bench_emit(key, (double)v / per_ns);
    }
}

size_t bench_rss(void)
{
    static int fd = -1;
    char buf[128];
    if (fd < 0)
        fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long size = 0, res = 0;
    sscanf(buf, "%lu %lu", &size, &res);
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

size_t bench_peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}
