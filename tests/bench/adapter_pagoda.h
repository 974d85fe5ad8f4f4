/* Pagoda's kmalloc/kfree (src/mm, -O2, in libpagoda_bench.so over a page
 * source that gives pages back to the host with madvise, as the kernel's
 * gives frames back to the PMM). BENCH_HARDEN picks the hardening level
 * given to kheap_init (default: the build's PAGODA_HEAP_HARDEN_DEFAULT).
 * Footprint (legacy column): the bytes the heap holds from its page
 * source. Release: what the kernel itself calls (pagoda_bench_release). */
#include <pagoda/kmalloc.h>
#include <stdlib.h>

void pagoda_bench_init(int harden);
size_t pagoda_bench_footprint(void);
size_t pagoda_bench_peak_footprint(void);
void pagoda_bench_release(void);
void pagoda_bench_page_stats(size_t *grow_pages, size_t *shrink_pages);

#define BM_NAME "pagoda"
static inline void bm_init(void)
{
    const char *h = getenv("BENCH_HARDEN");
    pagoda_bench_init(h ? atoi(h) : -1);
}
static inline void *bm_malloc(size_t n) { return kmalloc(n); }
static inline void *bm_aligned(size_t n, size_t align) { return kmalloc_aligned(n, align); }
static inline void bm_free(void *p) { kfree(p); }
static inline void bm_release(void) { pagoda_bench_release(); }
static inline size_t bm_footprint(void) { return pagoda_bench_footprint(); }
#define BM_PEAK_FOOTPRINT() pagoda_bench_peak_footprint()
#define BM_PAGE_STATS(g, s) pagoda_bench_page_stats(g, s)
