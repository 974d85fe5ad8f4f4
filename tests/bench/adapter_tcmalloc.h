/* tcmalloc (Debian libgoogle-perftools-dev, libtcmalloc_minimal shared
 * library). Footprint (legacy column): heap size minus the pages it has
 * returned to the OS. Release: MallocExtension_ReleaseFreeMemory. */
#include <gperftools/malloc_extension_c.h>
#include <gperftools/tcmalloc.h>

#define BM_NAME "tcmalloc"
static inline void bm_init(void) {}
static inline void *bm_malloc(size_t n) { return tc_malloc(n); }
static inline void *bm_aligned(size_t n, size_t align) { return tc_memalign(align, n); }
static inline void bm_free(void *p) { tc_free(p); }
static inline void bm_release(void) { MallocExtension_ReleaseFreeMemory(); }
static inline size_t bm_footprint(void)
{
    size_t heap = 0, unmapped = 0;
    MallocExtension_GetNumericProperty("generic.heap_size", &heap);
    MallocExtension_GetNumericProperty("tcmalloc.pageheap_unmapped_bytes", &unmapped);
    return heap - unmapped;
}
