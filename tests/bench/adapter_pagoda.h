/* Pagoda's kmalloc/kfree (src/mm, -O2, in libpagoda_bench.so over a
 * MAP_NORESERVE page source). BENCH_HARDEN picks the hardening level given
 * to kheap_init (default: the build's PAGODA_HEAP_HARDEN). Footprint: the
 * bytes the heap holds from its page source. */
#include <pagoda/kmalloc.h>
#include <stdlib.h>

void pagoda_bench_init(int harden);
size_t pagoda_bench_footprint(void);
size_t pagoda_bench_peak_footprint(void);

#define BM_NAME "pagoda"
static inline void bm_init(void)
{
    const char *h = getenv("BENCH_HARDEN");
    pagoda_bench_init(h ? atoi(h) : -1);
}
static inline void *bm_malloc(size_t n) { return kmalloc(n); }
static inline void bm_free(void *p) { kfree(p); }
static inline size_t bm_footprint(void) { return pagoda_bench_footprint(); }
#define BM_PEAK_FOOTPRINT() pagoda_bench_peak_footprint()
