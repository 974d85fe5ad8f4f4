/*
 * A page source over one caller-owned block of memory (struct heap_region):
 * grow hands out pages bottom-up, shrink takes back a tail at the top. Host
 * tests and the benchmark run the heap over a big pre-reserved host region
 * this way, and the kernel can run it over .bss before its VMM exists.
 * A shrink that is not at the top leaves the pages in place (the memory is
 * the caller's; r->discard, if set, may drop their backing, as madvise
 * does on a host), and commit of such pages just counts them back.
 */
#include "heap_internal.h"

static void *region_grow(struct heap_source *src, size_t bytes)
{
    struct heap_region *r = (struct heap_region *)src;
    if (bytes > r->limit - r->brk)
        return NULL;
    void *p = (void *)r->brk;
    r->brk += bytes;
    return p;
}

static void region_shrink(struct heap_source *src, void *ptr, size_t bytes)
{
    struct heap_region *r = (struct heap_region *)src;
    if ((uintptr_t)ptr + bytes == r->brk)
        r->brk = (uintptr_t)ptr;
    else
        r->decommitted += bytes;
    if (r->discard)
        r->discard(ptr, bytes);
}

static bool region_commit(struct heap_source *src, void *ptr, size_t bytes)
{
    struct heap_region *r = (struct heap_region *)src;
    r->decommitted -= bytes;
    return true;
}

void heap_region_init(struct heap_region *r, void *base, size_t bytes)
{
    r->src.grow = region_grow;
    r->src.shrink = region_shrink;
    r->src.commit = region_commit;
    r->discard = NULL;
    r->decommitted = 0;
    r->base = ALIGN_UP((uintptr_t)base, (uintptr_t)PAGE_SIZE);
    r->limit = ALIGN_DOWN((uintptr_t)base + bytes, (uintptr_t)PAGE_SIZE);
    if (r->limit < r->base)
        r->limit = r->base;
    r->brk = r->base;
}
