/*
 * Pagoda's heap as a host library for the benchmark: the page source is a
 * large region reserved up front with MAP_NORESERVE (it stands in for the
 * VMM), handed out bottom-up by Pagoda's own heap_region; a wrapper counts
 * the bytes the heap holds, so workload 6 reads Pagoda's footprint from its
 * page source.
 * Built into build/bench/libpagoda_bench.so with the src/mm cores.
 */
#include <pagoda/kmalloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

/* As much as the host lets us reserve, from 16 GiB down (valgrind allows
 * less than a bare process). The workloads need a few hundred MiB. */
#define REGION_MAX GiB(16)
#define REGION_MIN MiB(512)

/* Pagoda's own heap_region hands the pages out; this wrapper counts them. */
struct bench_source {
    struct heap_source src;
    struct heap_region region;
    size_t held, peak;
};
static struct bench_source bsrc;

static void *src_grow(struct heap_source *s, size_t bytes)
{
    struct bench_source *b = (struct bench_source *)s;
    void *p = b->region.src.grow(&b->region.src, bytes);
    if (p) {
        b->held += bytes;
        if (b->held > b->peak)
            b->peak = b->held;
    }
    return p;
}

static void src_shrink(struct heap_source *s, void *ptr, size_t bytes)
{
    struct bench_source *b = (struct bench_source *)s;
    b->region.src.shrink(&b->region.src, ptr, bytes);
    b->held -= bytes;
}

/* Reserve the region and (re)start the heap over it; harden as kheap_init. */
void pagoda_bench_init(int harden)
{
    size_t bytes = REGION_MAX;
    void *p = MAP_FAILED;
    for (; p == MAP_FAILED && bytes >= REGION_MIN; bytes /= 2)
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("pagoda_bench_init: mmap");
        exit(2);
    }
    bytes *= 2; /* undo the loop's last halving */
    bsrc = (struct bench_source){.src = {src_grow, src_shrink}};
    heap_region_init(&bsrc.region, p, bytes);
    kheap_init(&bsrc.src, harden);
}

/* Bytes the heap holds from its page source now, and at most so far. */
size_t pagoda_bench_footprint(void) { return bsrc.held; }
size_t pagoda_bench_peak_footprint(void) { return bsrc.peak; }
