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
 *
 * Threads (mt_workloads.c): PAGODA_HEAP_SMP says the heap may be called
 * from several threads at once. Then the page source below takes a mutex,
 * as the kernel's PMM and VMM take their locks (only the heap's rare grows
 * and shrinks pay it). Without it, pagoda_bench_serial_malloc/free put one
 * global mutex around every heap call, so that the multi-threaded bench
 * still runs, serialized; the single-thread bench calls kmalloc/kfree
 * directly either way.
 */
#include <pagoda/kmalloc.h>

#include <pthread.h>
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

#ifdef PAGODA_HEAP_SMP
static pthread_mutex_t src_lock = PTHREAD_MUTEX_INITIALIZER;
#define SRC_LOCK()   pthread_mutex_lock(&src_lock)
#define SRC_UNLOCK() pthread_mutex_unlock(&src_lock)
#else
#define SRC_LOCK()   ((void)0)
#define SRC_UNLOCK() ((void)0)
/* One lock around the whole heap, for the threads of the multi-threaded
 * bench only (see the top of the file). */
static pthread_mutex_t serial_lock = PTHREAD_MUTEX_INITIALIZER;

void *pagoda_bench_serial_malloc(size_t n)
{
    pthread_mutex_lock(&serial_lock);
    void *p = kmalloc(n);
    pthread_mutex_unlock(&serial_lock);
    return p;
}

void pagoda_bench_serial_free(void *p)
{
    pthread_mutex_lock(&serial_lock);
    kfree(p);
    pthread_mutex_unlock(&serial_lock);
}
#endif

static void *src_grow(struct heap_source *s, size_t bytes)
{
    struct bench_source *b = (struct bench_source *)s;
    SRC_LOCK();
    void *p = b->region.src.grow(&b->region.src, bytes);
    if (p) {
        b->grow_pages += bytes / PAGE_SIZE;
        b->held += bytes;
        if (b->held > b->peak)
            b->peak = b->held;
    }
    SRC_UNLOCK();
    return p;
}

static void src_shrink(struct heap_source *s, void *ptr, size_t bytes)
{
    struct bench_source *b = (struct bench_source *)s;
    madvise(ptr, bytes, MADV_DONTNEED);
    SRC_LOCK();
    b->region.src.shrink(&b->region.src, ptr, bytes);
    b->held -= bytes;
    b->shrink_pages += bytes / PAGE_SIZE;
    SRC_UNLOCK();
}

/* Pages the heap decommitted inside a free block and now wants back: the
 * same charge as a grow. */
static bool src_commit(struct heap_source *s, void *ptr, size_t bytes)
{
    struct bench_source *b = (struct bench_source *)s;
    SRC_LOCK();
    bool ok = b->region.src.commit(&b->region.src, ptr, bytes);
    if (ok) {
        b->grow_pages += bytes / PAGE_SIZE;
        b->held += bytes;
        if (b->held > b->peak)
            b->peak = b->held;
    }
    SRC_UNLOCK();
    return ok;
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
