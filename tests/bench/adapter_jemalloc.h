/* jemalloc (Debian libjemalloc-dev, shared library; it replaces malloc in
 * this process only). Footprint: stats.resident after an epoch refresh. */
#include <jemalloc/jemalloc.h>
#include <stdint.h>

#define BM_NAME "jemalloc"
static inline void bm_init(void) {}
static inline void *bm_malloc(size_t n) { return malloc(n); }
static inline void bm_free(void *p) { free(p); }
static inline size_t bm_footprint(void)
{
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch), resident = 0;
    mallctl("epoch", &epoch, &sz, &epoch, sz);
    sz = sizeof(resident);
    if (mallctl("stats.resident", &resident, &sz, NULL, 0) != 0)
        return 0;
    return resident;
}
