/* mimalloc (Debian libmimalloc-dev, shared library). Footprint (legacy
 * column): the memory it has committed, as mi_process_info reports it.
 * Release: mi_collect(true). */
#include <mimalloc.h>

#define BM_NAME "mimalloc"
static inline void bm_init(void) {}
static inline void *bm_malloc(size_t n) { return mi_malloc(n); }
static inline void *bm_aligned(size_t n, size_t align) { return mi_malloc_aligned(n, align); }
static inline void bm_free(void *p) { mi_free(p); }
static inline void bm_release(void) { mi_collect(true); }
static inline size_t bm_footprint(void)
{
    size_t el, us, sy, rss, prss, commit, pcommit, pf;
    mi_process_info(&el, &us, &sy, &rss, &prss, &commit, &pcommit, &pf);
    return commit;
}
