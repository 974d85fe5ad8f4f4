/* jemalloc (Debian libjemalloc-dev, shared library; it replaces malloc in
 * this process only). Footprint (legacy column): stats.resident after an
 * epoch refresh. Release: flush the thread cache, then purge every arena. */
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <stdio.h>

#define BM_NAME "jemalloc"
static inline void bm_init(void) {}
static inline void *bm_malloc(size_t n) { return malloc(n); }
static inline void *bm_aligned(size_t n, size_t align) { return aligned_alloc(align, n); }
static inline void bm_free(void *p) { free(p); }
static inline void bm_release(void)
{
    char name[64];
    mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    snprintf(name, sizeof(name), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    mallctl(name, NULL, NULL, NULL, 0);
}
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
