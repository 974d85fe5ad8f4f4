/* Pagoda's kmalloc/kfree for the multi-threaded workloads (mt_workloads.c),
 * from libpagoda_bench.so as in adapter_pagoda.h.
 *
 * PAGODA_HEAP_SMP (defined where the heap becomes thread-safe, in
 * include/pagoda/kmalloc.h or the bench's CFLAGS) says the heap may be
 * called from several threads at once: then the threads call kmalloc and
 * kfree directly, as every peer's threads call it. Without it, the shim's
 * pagoda_bench_serial_* take one global pthread mutex around each call, so
 * the workloads run correctly but measure that lock (the run says
 * "pagoda: serialized by the bench (heap not SMP-safe)" and emits
 * mt_serialized 1). */
#include <pagoda/kmalloc.h>
#include <stdlib.h>

void pagoda_bench_init(int harden);

#define BM_NAME "pagoda"
static inline void bm_init(void)
{
    const char *h = getenv("BENCH_HARDEN");
    pagoda_bench_init(h ? atoi(h) : -1);
}
#ifdef PAGODA_HEAP_SMP
static inline void *bm_malloc(size_t n) { return kmalloc(n); }
static inline void bm_free(void *p) { kfree(p); }
#else
void *pagoda_bench_serial_malloc(size_t n);
void pagoda_bench_serial_free(void *p);
#define BM_MT_SERIALIZED 1
static inline void *bm_malloc(size_t n) { return pagoda_bench_serial_malloc(n); }
static inline void bm_free(void *p) { pagoda_bench_serial_free(p); }
#endif
