/*
 * The multi-threaded allocator workloads, compiled once per allocator like
 * workloads.c (BENCH_ADAPTER names the adapter header; Pagoda's is
 * adapter_pagoda_mt.h). Each configuration starts its worker threads afresh
 * (the main thread only coordinates), on 1 and then 2 threads or the other
 * way round (BENCH_MT_ROUND, which run.sh sets to the run number).
 *
 *   bench-mt_<name> run   the three workloads at 1 and 2 threads, and the
 *                         single-thread pair through the thread-safe path
 *
 * Workloads, each thread with its own requests (fixed seeds, generated
 * before the clock starts, the same for every allocator):
 *   pairs   malloc+free of 16, 64, 256 and 1024 B in turn (op: one pair)
 *   mix     10,000 live objects per thread, 8 B-2 KiB uniform, each step
 *           frees a random slot and allocates a new size into it (op: step)
 *   larson  5,000 live connection buffers of 8-1000 B per thread; each step
 *           allocates one and writes both ends; half the new objects are
 *           handed to the next thread (the same thread on 1) through a
 *           single-producer ring published in batches of 32, and that
 *           thread frees them after reading them (every 64 steps); the
 *           other half replace a random own buffer (op: one malloc, and its
 *           free sooner or later on whichever thread)
 *
 * Timing: the threads run slice by slice between two barriers; a slice's
 * time is wall clock (CLOCK_MONOTONIC) from the first thread's start to the
 * last one's end, so a thread that waits for a lock, or for a core, is
 * charged. ns per op = slice time / ops of all threads: the throughput's
 * inverse, so scaling = ns/op at 1 thread / ns/op at 2. Only clean slices
 * count (see mt_slice_done: no thread preempted by another job). Reported
 * for the fastest clean slice (<key>_ns) and for all clean slices
 * (<key>_mean_ns; <key>_all_mean_ns over every slice), with the threads'
 * CPU time over threads x slice time (<key>_util: below 1, a thread was not
 * running, e.g. asleep on a lock) and the slice counts.
 *
 * mt_st_pair_<size>_ns: the single-thread pair of workloads.c (same loop,
 * same CPU-time slicer) on one worker thread, through the path the threads
 * use: compared with bench-<name>'s w1_pair_<size>_ns, it is the cost of
 * thread safety on one thread.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include BENCH_ADAPTER

#define MT_MAX_THREADS 2
#define MT_SLOTS_MIX 10000
#define MT_SLOTS_LARSON 5000
#define MT_RING 1024 /* objects in flight from one thread to the next */
#define MT_LINE 64

/* ---- a spinning barrier (yielding after a while: the machine is shared) */
struct mt_barrier {
    _Alignas(MT_LINE) unsigned count;
    unsigned gen, n;
};

static void mt_barrier_wait(struct mt_barrier *b)
{
    unsigned g = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->n) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->gen, g + 1, __ATOMIC_RELEASE);
        return;
    }
    for (unsigned spins = 0; __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == g; spins++) {
        if (spins > 2000)
            sched_yield();
        else
            __builtin_ia32_pause();
    }
}

/* ---- single-producer single-consumer ring of objects, published in
 * batches so that the ring's own cache lines cross between the cores once
 * per MT_BATCH objects: the workload measures the allocators' cross-thread
 * frees, not the queue. */
#define MT_BATCH 32
struct mt_ring {
    _Alignas(MT_LINE) unsigned head; /* consumer's */
    _Alignas(MT_LINE) unsigned tail; /* published by the producer */
    unsigned next, head_seen;        /* producer's: next slot, last look at head */
    _Alignas(MT_LINE) char *obj[MT_RING];
};

static int mt_ring_push(struct mt_ring *r, char *p)
{
    if (r->next - r->head_seen == MT_RING) {
        r->head_seen = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
        if (r->next - r->head_seen == MT_RING)
            return 0;
    }
    r->obj[r->next++ % MT_RING] = p;
    if (r->next - r->tail >= MT_BATCH)
        __atomic_store_n(&r->tail, r->next, __ATOMIC_RELEASE);
    return 1;
}

/* Publish what the batch holds (at the end of a run). */
static void mt_ring_flush(struct mt_ring *r) { __atomic_store_n(&r->tail, r->next, __ATOMIC_RELEASE); }

/* Free every published object (reading each first, as a consumer would);
 * returns the sum of the bytes read, for the sink. */
static unsigned mt_ring_drain(struct mt_ring *r)
{
    unsigned t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE), h = r->head, sum = 0;
    if (h == t)
        return 0;
    for (; h != t; h++) {
        char *p = r->obj[h % MT_RING];
        sum += (unsigned char)p[0];
        bm_free(p);
    }
    __atomic_store_n(&r->head, h, __ATOMIC_RELEASE);
    return sum;
}

/* ---- per-thread state and the run of one configuration */
enum mt_wl { MT_PAIRS, MT_MIX, MT_LARSON, MT_NWL };
static const char *const mt_wl_name[MT_NWL] = {"pairs", "mix", "larson"};

struct mt_thread { /* own lines: only its thread writes it during a slice */
    _Alignas(MT_LINE) int id;
    struct mt_run *run;
    struct bench_rng rng;
    char **slot;
    uint32_t *seq; /* mix: slot << 12 | size; larson: hand << 31 | slot << 10 | size */
    long nseq, pos;
    struct mt_ring *out, *in;
    unsigned sink;
    uint64_t t0, t1, cpu; /* the current slice */
    long preempted;       /* involuntary context switches in it */
    _Alignas(MT_LINE) char end[0];
};

/* Slice figures over all slices, and over the clean ones alone. */
struct mt_tally {
    int slices;
    uint64_t ns, cpu;
    long ops;
    double best, best_util;
};

struct mt_run {
    enum mt_wl wl;
    int n;
    long units; /* per thread per slice */
    int stop, calibrating;
    uint64_t budget, target, start;
    struct mt_tally all, clean;
    struct mt_barrier bar;
    struct mt_thread th[MT_MAX_THREADS];
};

static const size_t mt_pair_sizes[] = {16, 64, 256, 1024};

static void mt_setup(struct mt_thread *t, enum mt_wl wl)
{
    if (wl == MT_PAIRS)
        return;
    long slots = wl == MT_MIX ? MT_SLOTS_MIX : MT_SLOTS_LARSON;
    t->slot = bench_array((size_t)slots * sizeof(char *));
    t->nseq = bench_iters(wl == MT_MIX ? 400000 : 800000, 20000);
    t->seq = bench_array((size_t)t->nseq * 4);
    for (long i = 0; i < t->nseq; i++) {
        uint32_t k = (uint32_t)bench_range(&t->rng, 0, (uint64_t)slots - 1);
        if (wl == MT_MIX)
            t->seq[i] = k << 12 | (uint32_t)bench_range(&t->rng, 8, 2048);
        else
            t->seq[i] = (uint32_t)bench_range(&t->rng, 0, 1) << 31 | k << 10 |
                        (uint32_t)bench_range(&t->rng, 8, 1000);
    }
    for (long i = 0; i < slots; i++) {
        size_t n = (size_t)bench_range(&t->rng, 8, wl == MT_MIX ? 2048 : 1000);
        t->slot[i] = bm_malloc(n);
        t->slot[i][0] = (char)i;
    }
}

static void mt_teardown(struct mt_thread *t, enum mt_wl wl)
{
    if (wl == MT_PAIRS)
        return;
    long slots = wl == MT_MIX ? MT_SLOTS_MIX : MT_SLOTS_LARSON;
    for (long i = 0; i < slots; i++)
        bm_free(t->slot[i]);
    bench_array_free(t->slot, (size_t)slots * sizeof(char *));
    bench_array_free(t->seq, (size_t)t->nseq * 4);
}

/* `units` steps of the workload on thread t. */
static void mt_work(struct mt_thread *t, enum mt_wl wl, long units)
{
    if (wl == MT_PAIRS) {
        for (long u = 0; u < units; u++)
            for (int s = 0; s < 4; s++) {
                char *p = bm_malloc(mt_pair_sizes[s]);
                p[0] = 1;
                bench_sink(p);
                bm_free(p);
            }
        return;
    }
    for (long u = 0; u < units; u++) {
        uint32_t op = t->seq[t->pos];
        if (++t->pos == t->nseq)
            t->pos = 0;
        if (wl == MT_MIX) {
            uint32_t k = op >> 12;
            bm_free(t->slot[k]);
            t->slot[k] = bm_malloc(op & 0xfff);
            t->slot[k][0] = (char)u;
            continue;
        }
        uint32_t n = op & 0x3ff, k = op >> 10 & 0x1fffff;
        char *p = bm_malloc(n);
        p[0] = (char)u;
        p[n - 1] = (char)n;
        if (op >> 31) {
            if (!mt_ring_push(t->out, p))
                bm_free(p); /* the consumer is behind: free it here */
        } else {
            bm_free(t->slot[k]);
            t->slot[k] = p;
        }
        if ((u & 63) == 63)
            t->sink += mt_ring_drain(t->in);
    }
}

static long mt_ops_per_unit(enum mt_wl wl) { return wl == MT_PAIRS ? 4 : 1; }

/* Involuntary context switches of this thread so far: another process took
 * its core. (A thread that sleeps on a lock switches voluntarily.) */
static long mt_preemptions(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nivcsw;
}

static void mt_tally_add(struct mt_tally *t, uint64_t dt, uint64_t cpu, long ops, int n)
{
    double v = (double)dt / (double)ops;
    if (t->best == 0 || v < t->best) {
        t->best = v;
        t->best_util = (double)cpu / ((double)n * (double)dt);
    }
    t->ns += dt;
    t->cpu += cpu;
    t->ops += ops;
    t->slices++;
}

/*
 * Thread 0, between slices (the others wait at the next barrier): the
 * slicer of bench.h over all threads, in wall time, calibrated on this
 * configuration (units doubled until a thread's CPU time in a slice reaches
 * `target`: a calibration slice another job interrupts does not end the
 * calibration early). A slice in
 * which no thread was preempted, and the last thread started within 5% of
 * the slice's time after the first (not kept off its core at the barrier),
 * is clean: the figures come from the clean
 * slices (from all of them if none was), so that the shared machine's other
 * jobs, which take a core from one thread of two, are not charged to the
 * allocator, while a thread that waits for a lock still is. At least 40
 * slices or the budget, then on until 10 are clean or 3 budgets have gone.
 */
static void mt_slice_done(struct mt_run *r)
{
    uint64_t t0 = UINT64_MAX, t1 = 0, cpu = 0, last_start = 0, cpu_max = 0;
    long preempted = 0;
    for (int i = 0; i < r->n; i++) {
        cpu_max = r->th[i].cpu > cpu_max ? r->th[i].cpu : cpu_max;
        t0 = r->th[i].t0 < t0 ? r->th[i].t0 : t0;
        last_start = r->th[i].t0 > last_start ? r->th[i].t0 : last_start;
        t1 = r->th[i].t1 > t1 ? r->th[i].t1 : t1;
        cpu += r->th[i].cpu;
        preempted += r->th[i].preempted;
    }
    uint64_t dt = t1 - t0;
    long ops = r->units * mt_ops_per_unit(r->wl) * r->n;
    if (r->calibrating) {
        if (cpu_max < r->target && r->units * 2 <= (1L << 22)) {
            r->units *= 2;
        } else {
            r->calibrating = 0;
            r->start = bench_now_ns();
        }
        return;
    }
    mt_tally_add(&r->all, dt, cpu, ops, r->n);
    if (!preempted && (last_start - t0) * 20 <= dt)
        mt_tally_add(&r->clean, dt, cpu, ops, r->n);
    uint64_t spent = bench_now_ns() - r->start;
    int enough = r->all.slices >= BENCH_SLICES || (r->all.slices >= 5 && spent >= r->budget);
    if (enough && (r->clean.slices >= 10 || spent >= 3 * r->budget))
        __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
}

static void *mt_thread_main(void *arg)
{
    struct mt_thread *t = arg;
    struct mt_run *r = t->run;
    mt_setup(t, r->wl);
    for (;;) {
        mt_barrier_wait(&r->bar); /* start, once every thread is ready */
        if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
            break;
        long ivcsw = mt_preemptions();
        uint64_t c0 = bench_cpu_ns();
        t->t0 = bench_now_ns();
        mt_work(t, r->wl, r->units);
        t->t1 = bench_now_ns();
        t->cpu = bench_cpu_ns() - c0;
        t->preempted = mt_preemptions() - ivcsw;
        mt_barrier_wait(&r->bar); /* every thread has timed its part */
        if (t->id == 0)
            mt_slice_done(r);
    }
    if (r->wl == MT_LARSON) { /* nobody pushes any more: free what is in flight */
        mt_ring_flush(t->out);
        mt_barrier_wait(&r->bar);
        t->sink += mt_ring_drain(t->in);
        mt_barrier_wait(&r->bar);
    }
    mt_teardown(t, r->wl);
    bench_sink(&t->sink);
    return NULL;
}

/* One configuration on n threads; the main thread only waits for them. */
static void mt_config(enum mt_wl wl, int n)
{
    static struct mt_ring rings[MT_MAX_THREADS];
    struct mt_run *r = bench_array(sizeof(*r));
    pthread_t tid[MT_MAX_THREADS];
    r->wl = wl;
    r->n = n;
    r->units = 16;
    r->calibrating = 1;
    r->budget = bench_budget_ns(2);
    r->target = r->budget / (2 * BENCH_SLICES);
    r->bar.n = (unsigned)n;
    memset(rings, 0, sizeof(rings));
    for (int i = 0; i < n; i++) {
        struct mt_thread *t = &r->th[i];
        t->id = i;
        t->run = r;
        t->rng.s = 0x5EED0000ULL + (uint64_t)wl * 131 + (uint64_t)i * 7919;
        t->out = &rings[i];
        t->in = &rings[(i + n - 1) % n];
        if (pthread_create(&tid[i], NULL, mt_thread_main, t) != 0) {
            perror("bench-mt: pthread_create");
            exit(2);
        }
    }
    for (int i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
    char key[96];
    const struct mt_tally *c = r->clean.slices ? &r->clean : &r->all;
    snprintf(key, sizeof(key), "mt_%s_%dt_ns", mt_wl_name[wl], n);
    bench_emit(key, c->best);
    snprintf(key, sizeof(key), "mt_%s_%dt_mean_ns", mt_wl_name[wl], n);
    bench_emit(key, (double)c->ns / (double)c->ops);
    snprintf(key, sizeof(key), "mt_%s_%dt_util", mt_wl_name[wl], n);
    bench_emit(key, c->best_util);
    snprintf(key, sizeof(key), "mt_%s_%dt_mean_util", mt_wl_name[wl], n);
    bench_emit(key, (double)c->cpu / ((double)n * (double)c->ns));
    snprintf(key, sizeof(key), "mt_%s_%dt_clean_slices", mt_wl_name[wl], n);
    bench_emit(key, r->clean.slices);
    snprintf(key, sizeof(key), "mt_%s_%dt_slices", mt_wl_name[wl], n);
    bench_emit(key, r->all.slices);
    snprintf(key, sizeof(key), "mt_%s_%dt_all_mean_ns", mt_wl_name[wl], n);
    bench_emit(key, (double)r->all.ns / (double)r->all.ops);
    bench_array_free(r, sizeof(*r));
}

/* ---- the single-thread pair of workloads.c, on one worker thread */
static void *mt_st_pairs(void *arg)
{
    char key[96];
    for (long i = 0; i < 4000; i++) { /* a new thread: warm its caches first */
        char *p = bm_malloc(mt_pair_sizes[i & 3]);
        p[0] = 1;
        bm_free(p);
    }
    for (int s = 0; s < 4; s++) {
        size_t size = mt_pair_sizes[s];
        for (long i = 0; i < 100; i++) { /* warm the size class */
            char *p = bm_malloc(size);
            p[0] = 1;
            bm_free(p);
        }
        struct bench_slicer t;
        bench_slicer_init(&t, bench_budget_ns(1), 1 << 20, 1);
        BENCH_TIME(t, {
            char *p = bm_malloc(size);
            p[0] = 1;
            bench_sink(p);
            bm_free(p);
        });
        snprintf(key, sizeof(key), "mt_st_pair_%zu_ns", size);
        bench_emit(key, t.best);
        snprintf(key, sizeof(key), "mt_st_pair_%zu_mean_ns", size);
        bench_emit(key, bench_slicer_mean(&t));
    }
    return arg;
}

static void mt_st_run(void)
{
    pthread_t st;
    if (pthread_create(&st, NULL, mt_st_pairs, NULL) != 0) {
        perror("bench-mt: pthread_create");
        exit(2);
    }
    pthread_join(st, NULL);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "run";
    if (strcmp(mode, "run") != 0) {
        fprintf(stderr, "usage: %s [run]\n", argv[0]);
        return 2;
    }
    bm_init();
#ifdef BM_MT_SERIALIZED
    /* The heap is not thread-safe in this build: the adapter takes a global
     * lock around each call, so 2 threads measure that lock, not the heap. */
    fprintf(stderr, "%s: serialized by the bench (heap not SMP-safe)\n", BM_NAME);
    bench_emit("mt_serialized", 1);
#else
    bench_emit("mt_serialized", 0);
#endif
    const char *rs = getenv("BENCH_MT_ROUND");
    int round = rs ? atoi(rs) : 0;
    if (round & 1) /* the single-thread pair first in odd rounds, last in even */
        mt_st_run();
    for (int w = 0; w < MT_NWL; w++) {
        int first = (round + w) & 1 ? 2 : 1;
        mt_config((enum mt_wl)w, first);
        mt_config((enum mt_wl)w, 3 - first);
    }
    if (!(round & 1))
        mt_st_run();
    return 0;
}
