/* mimalloc (Debian libmimalloc-dev, shared library). Footprint: the memory
 * it has committed, as mi_process_info reports it. */
#include <mimalloc.h>

#define BM_NAME "mimalloc"
static inline void bm_init(void) {}
static inline void *bm_malloc(size_t n) { return mi_malloc(n); }
static inline void bm_free(void *p) { mi_free(p); }
static inline size_t bm_footprint(void)
{
    size_t el, us, sy, rss, prss, commit, pcommit, pf;
    mi_process_info(&el, &us, &sy, &rss, &prss, &commit, &pcommit, &pf);
    return commit;
}
