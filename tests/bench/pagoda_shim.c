/*
 * Pagoda's heap as a host library for the benchmark: the page source is a
 * large region reserved up front with MAP_NORESERVE (it stands in for the
 * VMM), handed out bottom-up by Pagoda's own heap_region. A wrapper counts
 * the bytes and pages the heap takes and gives back, and charges a shrink
 * what the kernel pays for it: the pages go back to the host
 * (madvise(MADV_DONTNEED): page-table entries cleared, TLB flushed, frames
 * freed), so touching them again after a later grow faults fresh zeroed
 * pages in, as the kernel's pmm_alloc + vmm_map would. RSS therefore
 * measures Pagoda the way it measures every other allocator.
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
    size_t grow_pages, shrink_pages;
};
static struct bench_source bsrc;

static void *src_grow(struct heap_source *s, size_t bytes)
{
    struct bench_source *b = (struct bench_source *)s;
    void *p = b->region.src.grow(&b->region.src, bytes);
    if (p) {
        b->grow_pages += bytes / PAGE_SIZE;
        b->held += bytes;
        if (b->held > b->peak)
            b->peak = b->held;
    }
    return p;
}

static void src_shrink(struct heap_source *s, void *ptr, size_t bytes)
{
    struct bench_source *b = (struct bench_source *)s;
    madvise(ptr, bytes, MADV_DONTNEED);
    b->region.src.shrink(&b->region.src, ptr, bytes);
    b->held -= bytes;
    b->shrink_pages += bytes / PAGE_SIZE;
}

/* Pages the heap decommitted inside a free block and now wants back: the
 * same charge as a grow. */
static bool src_commit(struct heap_source *s, void *ptr, size_t bytes)
{
    struct bench_source *b = (struct bench_source *)s;
    if (!b->region.src.commit(&b->region.src, ptr, bytes))
        return false;
    b->grow_pages += bytes / PAGE_SIZE;
    b->held += bytes;
    if (b->held > b->peak)
        b->peak = b->held;
    return true;
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
    bsrc = (struct bench_source){.src = {src_grow, src_shrink, src_commit}};
    heap_region_init(&bsrc.region, p, bytes);
    kheap_init(&bsrc.src, harden);
}

/* What the kernel calls to make the heap give memory back: nothing. The
 * heap's release policy runs by itself on the frees (and when the page
 * source refuses a grow), so the benchmark makes no call either. */
void pagoda_bench_release(void) {}

/* Pages the heap has taken from / given back to its page source so far. */
void pagoda_bench_page_stats(size_t *grow_pages, size_t *shrink_pages)
{
    *grow_pages = bsrc.grow_pages;
    *shrink_pages = bsrc.shrink_pages;
}

/* Bytes the heap holds from its page source now, and at most so far. */
size_t pagoda_bench_footprint(void) { return bsrc.held; }
size_t pagoda_bench_peak_footprint(void) { return bsrc.peak; }
