/*
 * Workload 8, included into Pagoda's bench executable only: a slab cache of
 * 64-byte objects, kmem_cache_alloc + kmem_cache_free pairs (and the same
 * in the callgrind mode).
 */
#include <pagoda/slab.h>

static void bm_extra(const char *mode)
{
    struct kmem_cache *c = kmem_cache_create("bench64", 64, 16, NULL, NULL);
    if (!c) {
        fprintf(stderr, "bench: kmem_cache_create failed\n");
        exit(1);
    }
    for (int i = 0; i < 1000; i++) {
        void *p = kmem_cache_alloc(c);
        bench_sink(p);
        kmem_cache_free(c, p);
    }
    if (strcmp(mode, "run") == 0) {
        long n = bench_iters(10000000, 20000) / BENCH_SLICES;
        double best = 0;
        for (int s = 0; s < BENCH_SLICES; s++) {
            uint64_t t0 = bench_cpu_ns();
            for (long i = 0; i < n; i++) {
                void *p = kmem_cache_alloc(c);
                bench_sink(p);
                kmem_cache_free(c, p);
            }
            bench_best(&best, t0, n);
        }
        bench_emit("w8_slab_pair_ns", best);
    } else if (strcmp(mode, "callgrind") == 0) {
        BENCH_CG_BEGIN();
        for (long i = 0; i < CG_PAIRS; i++) {
            void *p = kmem_cache_alloc(c);
            bench_sink(p);
            kmem_cache_free(c, p);
        }
        BENCH_CG_END("w8_slab");
    }
    kmem_cache_destroy(c);
}
