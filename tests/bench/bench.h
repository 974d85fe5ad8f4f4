/*
 * Shared pieces of the host benchmarks (tests/bench): a monotonic clock, a
 * sink the optimiser cannot see through, a fixed-seed PRNG, arrays that do
 * not come from the allocator under test, and the result lines that
 * tests/bench/run.sh collects.
 *
 * Every executable prints lines of the form
 *     R <key> <value>
 * (nanoseconds, ratios, bytes) and nothing else on stdout that starts with "R ".
 */
#ifndef PAGODA_BENCH_H
#define PAGODA_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <valgrind/callgrind.h>

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of this thread: what every figure is measured in, so that the
 * time another process had the CPU (these machines are shared) is not
 * charged to the allocator. Budgets and caps use the wall clock above. */
static inline uint64_t bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Make p "used": the compiler must assume the pointer escapes and that any
 * memory may have been read, so no allocation is elided or merged. */
static inline void bench_sink(const void *p) { __asm__ volatile("" ::"r"(p) : "memory"); }

/*
 * Every timed loop is cut into BENCH_SLICES equal slices and reports the
 * fastest slice's ns per operation: on a shared machine, a slice during
 * which another process had the CPU says nothing about the allocator.
 * (run.sh then takes the median of that figure over several processes.)
 */
#define BENCH_SLICES 40
static inline void bench_best(double *best, uint64_t cpu_t0, long ops)
{
    double v = (double)(bench_cpu_ns() - cpu_t0) / (double)ops;
    if (*best == 0 || v < *best)
        *best = v;
}

/* xorshift64*: fast, and the same sequence in every executable. */
struct bench_rng {
    uint64_t s;
};
static inline uint64_t bench_rand(struct bench_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}
/* Uniform in [lo, hi]. */
static inline uint64_t bench_range(struct bench_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + bench_rand(r) % (hi - lo + 1);
}

/* Zeroed memory straight from mmap, populated up front, so the harness's
 * own arrays never come from (or count against, in time or RSS) the
 * allocator being measured. */
void *bench_array(size_t bytes);
void bench_array_free(void *p, size_t bytes);

/*
 * The slicer: a timed test runs a calibration (units per slice doubled from
 * 16 until a slice takes budget / (2 * BENCH_SLICES), or max_units), then
 * up to BENCH_SLICES slices, stopping after `budget_ns` (at least 5
 * slices, wall clock). best = the fastest slice's ns per operation; mean =
 * all the recorded slices' time over all their operations: the first hides
 * refills and growth, the second does not. Both in CPU time (bench_cpu_ns).
 */
struct bench_slicer {
    long units, max_units, ops_per_unit;
    int slice, calibrating;
    uint64_t budget, start, ns;
    long ops, all_ops;
    double best;
};
void bench_slicer_init(struct bench_slicer *t, uint64_t budget_ns, long max_units,
                       long ops_per_unit);
int bench_slicer_more(const struct bench_slicer *t);
void bench_slicer_done(struct bench_slicer *t, uint64_t t0);
static inline double bench_slicer_mean(const struct bench_slicer *t)
{
    return t->ops ? (double)t->ns / (double)t->ops : 0;
}
/* The default budget of one test: BENCH_BUDGET_MS (default 40) ms, scaled
 * by BENCH_SCALE. */
uint64_t bench_budget_ns(double factor);
#define BENCH_TIME(t, ...)                                                     \
    while (bench_slicer_more(&(t))) {                                          \
        uint64_t t0_ = bench_cpu_ns();                                         \
        for (long u_ = 0; u_ < (t).units; u_++) {                              \
            __VA_ARGS__;                                                       \
        }                                                                      \
        bench_slicer_done(&(t), t0_);                                          \
    }

/* Fenced TSC reads for per-operation latency: lfence keeps the read after
 * the work before it, and rdtscp waits for earlier instructions. */
static inline uint64_t bench_tsc_begin(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi)::"memory");
    return (uint64_t)hi << 32 | lo;
}
static inline uint64_t bench_tsc_end(void)
{
    uint32_t lo, hi, aux;
    __asm__ volatile("rdtscp; lfence" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
    return (uint64_t)hi << 32 | lo;
}
/* TSC ticks per ns, measured once against CLOCK_MONOTONIC. */
double bench_tsc_per_ns(void);
/* Sort samples (TSC ticks) and print "R <prefix>_p50_ns" .. "_p999_ns",
 * "_max_ns", less the fence overhead `base` ticks. */
void bench_emit_percentiles(const char *prefix, uint64_t *samples, size_t n, uint64_t base);
/* Resident set size of this process now, in bytes (/proc/self/statm). */
size_t bench_rss(void);
/* Peak resident set size so far, in bytes (getrusage). */
size_t bench_peak_rss(void);

/* Print "R key value". */
void bench_emit(const char *key, double value);
/* The scale factor for iteration counts (BENCH_SCALE, default 1.0). */
double bench_scale(void);
/* n scaled, at least `min`. */
long bench_iters(long n, long min);

/* Callgrind sections: the instructions between BENCH_CG_BEGIN and
 * BENCH_CG_END(label) are dumped as one record named label. Outside
 * valgrind these are a few no-op instructions, and they are only used in
 * the "callgrind" mode anyway. */
#define BENCH_CG_BEGIN()     CALLGRIND_TOGGLE_COLLECT
#define BENCH_CG_END(label)                                                    \
    do {                                                                       \
        CALLGRIND_TOGGLE_COLLECT;                                              \
        CALLGRIND_DUMP_STATS_AT(label);                                        \
    } while (0)

#endif
