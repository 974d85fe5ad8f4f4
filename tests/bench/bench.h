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
static inline void bench_best(double *best, uint64_t t0, long ops)
{
    double v = (double)(bench_now_ns() - t0) / (double)ops;
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

/* Zeroed memory straight from mmap, so the harness's own arrays never come
 * from (or count against) the allocator being measured. */
void *bench_array(size_t bytes);
void bench_array_free(void *p, size_t bytes);

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
