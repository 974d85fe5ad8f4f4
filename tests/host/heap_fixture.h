/* The host heap tests' memory: one region of `bytes`, reserved on the first
 * call and the same on every later one, so a test restarts the heap over it
 * with heap_region_init and kheap_init. MAP_NORESERVE: only touched pages
 * cost memory. A reservation that fails aborts the test binary. */
#ifndef PAGODA_HOST_HEAP_FIXTURE_H
#define PAGODA_HOST_HEAP_FIXTURE_H

#include <stdlib.h>
#include <sys/mman.h>

static inline void *heap_fixture_region(size_t bytes)
{
    static void *region;
    if (!region) {
        region = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (region == MAP_FAILED)
            abort();
    }
    return region;
}

#endif
