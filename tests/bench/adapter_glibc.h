/* glibc malloc, as every program gets it. Footprint: mallinfo2's sbrk arena
 * plus mmapped chunks. */
#include <malloc.h>
#include <stdlib.h>

#define BM_NAME "glibc"
static inline void bm_init(void) {}
static inline void *bm_malloc(size_t n) { return malloc(n); }
static inline void bm_free(void *p) { free(p); }
static inline size_t bm_footprint(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.arena + mi.hblkhd;
}
