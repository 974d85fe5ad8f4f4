/* glibc malloc, as every program gets it. Footprint (legacy column):
 * mallinfo2's sbrk arena plus mmapped chunks. Release: malloc_trim(0). */
#include <malloc.h>
#include <stdlib.h>

#define BM_NAME "glibc"
static inline void bm_init(void) {}
static inline void *bm_malloc(size_t n) { return malloc(n); }
static inline void *bm_aligned(size_t n, size_t align) { return aligned_alloc(align, n); }
static inline void bm_free(void *p) { free(p); }
static inline void bm_release(void) { malloc_trim(0); }
static inline size_t bm_footprint(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.arena + mi.hblkhd;
}
