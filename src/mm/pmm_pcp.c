/*
 * Per-CPU frame caches: most single-frame allocations and frees never take
 * the PMM's global lock.
 *
 * Theory of operation
 * -------------------
 * Each CPU owns a stack of up to PMM_PCP_HIGH (128) free frames, reached by
 * this_cpu()->index. pmm_pcp_alloc pops the top; pmm_pcp_free pushes onto
 * it, so the frame freed last (still warm in the cache) goes out first. The
 * owner touches its stack with plain loads and stores: kernel code is never
 * preempted and no frame is allocated from an interrupt handler, so nothing
 * else runs on the CPU in between. The core sees the cache only in batches,
 * under the global lock (LOCK_LEVEL_PMM, the innermost allocator lock):
 *  - refill: an empty cache takes PMM_PCP_BATCH (32) frames from the core,
 *    lowest first, so that one CPU still allocates roughly in address order;
 *  - drain: a free into a full cache first returns its PMM_PCP_BATCH
 *    coldest frames (the bottom of the stack).
 * Watermarks with hysteresis: a refill leaves 32 frames, a drain leaves 96,
 * so a CPU alternating allocations and frees around either edge moves a
 * batch at most once per 32 operations, never once per operation. 128
 * frames (512 KiB) per CPU bound what caching can keep from other CPUs:
 * 8 MiB at 16 CPUs.
 *
 * A free from another CPU than the allocating one goes to the freeing CPU's
 * cache: correct (any frame may live in any cache) and as cheap as a local
 * free. Frames flow back to the core when that cache overflows.
 *
 * Remote drains. The owner takes no lock, so no other CPU may take frames
 * out of its stack: a CPU that finds the core empty (pmm_pcp_steal) instead
 * sets the drain_req flag of every CPU with cached frames and waits, with a
 * bound, until each has cleared it. An owner checks its flag (one load) at
 * every pmm_pcp_alloc and pmm_pcp_free, and the kernel's idle loop calls
 * pmm_pcp_poll, so an idle AP answers at its next timer tick (a boot CPU
 * waiting in the monitor answers at its next PMM call). Honouring
 * means draining the whole cache under the lock, then clearing the flag.
 * The waiter holds no PMM lock and honours its own flag while it waits (two
 * CPUs out of memory at once ask each other), and it gives up after
 * PMM_PCP_STEAL_SPINS spins: a CPU busy elsewhere (or spinning on a lock the
 * waiter holds) only makes the allocation fail, never hang. A CPU whose
 * request is still pending is not waited for again (its frames come back
 * when it next calls in), so a long-busy CPU costs one wait, not one per
 * allocation. On the host a
 * thread's exit hook drains its cache before its index is reused.
 *
 * Double frees. A bit per frame, `cached`, is set (atomic fetch-or) while
 * the frame sits in any cache. A free checks the frame is aligned and in an
 * allocatable range (read-only; a "no" is re-checked under the lock, since
 * the bootloader reclaim may be inserting ranges), test-and-sets its cached
 * bit (a set bit means the frame is already in some CPU's cache: a double
 * free, reported as the core reports one, -E_DOUBLE, from whichever CPU),
 * and then checks that its core bit says used (else it clears the cached
 * bit again: a double free of a frame free in the core). The core bit is
 * read without the lock: a frame the caller owns has a stable 0 there, and
 * a frame free in the core a stable 1 unless someone allocates it at that
 * very moment. A drain frees into the core before it clears the cached bit
 * (an atomic read-modify-write, as is the test-and-set), so a double free
 * racing the drain of the same frame sees it cached or free in the core,
 * whichever comes first. Run frees
 * (pmm.c) check the cached bits of the run under the lock. Two CPUs freeing
 * the same frame at the same instant may both pass (best effort); the
 * sequential double free, the common bug, is always caught.
 *
 * Statistics: count is stored atomically by its owner; refills and drains
 * change it under the lock together with the core's free count, so the sum
 * over CPUs read under the lock plus the core's count is the exact number
 * of free frames.
 *
 * Cost. Alloc: the flag load, a pop, an atomic and (the cached bit), a
 * store; free: the range check, a bit test, an atomic fetch-or, a push.
 * One lock round trip per 32 operations at the edges. Space: 1 KiB per CPU
 * and a bit per frame (as much again as the core's level 0).
 */
#include <pagoda/errno.h>
#include <pagoda/pmm_pcp.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

static inline struct pmm_pcp *mine(struct pmm_pcp_pool *p)
{
    return &p->cpu[this_cpu()->index];
}

static inline uint32_t load32(const uint32_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}
static inline void store32(uint32_t *v, uint32_t x)
{
    __atomic_store_n(v, x, __ATOMIC_RELAXED);
}

/* ---- the cached bits ------------------------------------------------------ */

static inline bool cached_test_and_set(struct pmm_pcp_pool *p, uint64_t f)
{
    uint64_t bit = 1ULL << (f & 63);
    return __atomic_fetch_or(&p->cached[f >> 6], bit, __ATOMIC_SEQ_CST) & bit;
}
static inline void cached_clear(struct pmm_pcp_pool *p, uint64_t f)
{
    __atomic_fetch_and(&p->cached[f >> 6], ~(1ULL << (f & 63)), __ATOMIC_SEQ_CST);
}
static inline void cached_set(struct pmm_pcp_pool *p, uint64_t f)
{
    __atomic_fetch_or(&p->cached[f >> 6], 1ULL << (f & 63), __ATOMIC_SEQ_CST);
}

size_t pmm_pcp_cached_bytes(uint64_t nframes)
{
    return ALIGN_UP((nframes + 63) / 64 * 8, PAGE_SIZE);
}

#ifndef PAGODA_KERNEL
/* Host: pools whose caches an ending thread drains. */
#define HOST_POOLS 4
static struct pmm_pcp_pool *host_pools[HOST_POOLS];

static void host_exit(struct cpu *c)
{
    for (unsigned i = 0; i < HOST_POOLS; i++) {
        struct pmm_pcp_pool *p = __atomic_load_n(&host_pools[i], __ATOMIC_ACQUIRE);
        if (p && load32(&p->cpu[c->index].count))
            pmm_pcp_drain(p);
    }
}
#endif

void pmm_pcp_init(struct pmm_pcp_pool *p, struct pmm_core *core, void *cached)
{
    memset(p, 0, sizeof(*p));
    p->core = core;
    spin_init(&p->lock, "pmm", LOCK_LEVEL_PMM);
    p->cached = cached;
    memset(cached, 0, pmm_pcp_cached_bytes(core->nframes));
#ifndef PAGODA_KERNEL
    cpu_host_on_exit(host_exit);
    for (unsigned i = 0; i < HOST_POOLS; i++) {
        struct pmm_pcp_pool *none = NULL;
        if (__atomic_compare_exchange_n(&host_pools[i], &none, p, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return;
    }
    panic("pmm_pcp: more than %d live pools on the host", HOST_POOLS);
#endif
}

void pmm_pcp_move(struct pmm_pcp_pool *p, void *cached)
{
    spin_lock(&p->lock);
    p->cached = cached;
    spin_unlock(&p->lock);
}

void pmm_pcp_fini(struct pmm_pcp_pool *p)
{
#ifndef PAGODA_KERNEL
    for (unsigned i = 0; i < HOST_POOLS; i++)
        if (__atomic_load_n(&host_pools[i], __ATOMIC_ACQUIRE) == p)
            __atomic_store_n(&host_pools[i], NULL, __ATOMIC_RELEASE);
#else
    UNUSED(p);
#endif
}

/* ---- batches, under the lock ---------------------------------------------- */

/* Frames [0, n) of c's stack back to the core. Lock held. A refused free
 * means the core and the caches disagree: memory is corrupt. */
static void give_back(struct pmm_pcp_pool *p, struct pmm_pcp *c, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        paddr_t pa = c->frame[i];
        int err = pmm_core_free(p->core, pa, 1);
        if (err)
            panic("pmm: cached frame 0x%llx refused by the core (%s)", (unsigned long long)pa,
                  err_name(err));
        cached_clear(p, pa >> PAGE_SHIFT); /* after the core has it: see above */
    }
}

/* Drain the whole cache of c (its owner calls). */
static void drain_all(struct pmm_pcp_pool *p, struct pmm_pcp *c)
{
    spin_lock(&p->lock);
    uint32_t n = c->count;
    if (n) {
        give_back(p, c, n);
        store32(&c->count, 0);
        c->drains++;
    }
    spin_unlock(&p->lock);
}

/* Honour a drain request: everything back, then say so. */
static __attribute__((noinline)) void honour(struct pmm_pcp_pool *p, struct pmm_pcp *c)
{
    drain_all(p, c);
    __atomic_store_n(&c->drain_req, 0, __ATOMIC_RELEASE);
}

/* The full cache c gives back its PMM_PCP_BATCH coldest frames. */
static __attribute__((noinline)) void drain_batch(struct pmm_pcp_pool *p, struct pmm_pcp *c)
{
    spin_lock(&p->lock);
    give_back(p, c, PMM_PCP_BATCH);
    uint32_t left = c->count - PMM_PCP_BATCH;
    memmove(&c->frame[0], &c->frame[PMM_PCP_BATCH], left * sizeof(c->frame[0]));
    store32(&c->count, left);
    c->drains++;
    spin_unlock(&p->lock);
}

/* Up to PMM_PCP_BATCH frames from the core into the empty cache c, the
 * lowest on top. Returns how many. */
static uint32_t grab(struct pmm_pcp_pool *p, struct pmm_pcp *c)
{
    uint32_t n = 0;
    spin_lock(&p->lock);
    while (n < PMM_PCP_BATCH) {
        paddr_t pa = pmm_core_alloc(p->core, 1);
        if (!pa)
            break;
        cached_set(p, pa >> PAGE_SHIFT);
        c->frame[n++] = pa;
    }
    for (uint32_t i = 0; i < n / 2; i++) {
        paddr_t t = c->frame[i];
        c->frame[i] = c->frame[n - 1 - i];
        c->frame[n - 1 - i] = t;
    }
    if (n) {
        store32(&c->count, n);
        c->refills++;
    }
    spin_unlock(&p->lock);
    return n;
}

static __attribute__((noinline)) uint32_t refill(struct pmm_pcp_pool *p, struct pmm_pcp *c)
{
    uint32_t n = grab(p, c);
    if (n || !pmm_pcp_steal(p))
        return n;
    return grab(p, c);
}

bool pmm_pcp_steal(struct pmm_pcp_pool *p)
{
    unsigned me = this_cpu()->index, asked[SMP_MAX_CPUS], n = 0;
    unsigned ncpu = MIN(cpu_count(), SMP_MAX_CPUS);
    for (unsigned i = 0; i < ncpu; i++) {
        struct pmm_pcp *o = &p->cpu[i];
        if (i == me || !load32(&o->count))
            continue;
        /* A request still pending from before: that CPU is busy elsewhere,
         * and waiting for it again would make every allocation slow. */
        if (__atomic_exchange_n(&o->drain_req, 1, __ATOMIC_ACQ_REL))
            continue;
        asked[n++] = i;
    }
    if (!n)
        return false;
    for (uint32_t spins = 0; spins < PMM_PCP_STEAL_SPINS; spins++) {
        pmm_pcp_poll(p); /* another CPU out of memory may be asking us */
        unsigned pending = 0;
        for (unsigned k = 0; k < n; k++)
            pending += __atomic_load_n(&p->cpu[asked[k]].drain_req, __ATOMIC_ACQUIRE) != 0;
        if (!pending)
            break;
        relax();
    }
    return true;
}

void pmm_pcp_drain(struct pmm_pcp_pool *p)
{
    drain_all(p, mine(p));
}

void pmm_pcp_poll(struct pmm_pcp_pool *p)
{
    struct pmm_pcp *c = mine(p);
    if (__atomic_load_n(&c->drain_req, __ATOMIC_ACQUIRE))
        honour(p, c);
}

/* ---- the owner's fast paths ----------------------------------------------- */

paddr_t pmm_pcp_alloc(struct pmm_pcp_pool *p)
{
    struct pmm_pcp *c = mine(p);
    if (unlikely(__atomic_load_n(&c->drain_req, __ATOMIC_RELAXED)))
        honour(p, c);
    uint32_t n = c->count;
    if (unlikely(n == 0)) {
        n = refill(p, c);
        if (!n)
            return 0;
    }
    paddr_t pa = c->frame[--n];
    cached_clear(p, pa >> PAGE_SHIFT);
    store32(&c->count, n);
    return pa;
}

/* Is frame f free in the core? Read without the lock (see above): one
 * aligned word load, which other CPUs may be changing in other bits. */
__attribute__((no_sanitize_thread)) static bool core_bit_racy(const struct pmm_core *core,
                                                              uint64_t f)
{
    return (((volatile const uint64_t *)core->level[0])[f >> 6] >> (f & 63)) & 1;
}

/* Is frame f in an allocatable range? Read-only: ranges only grow. The
 * range this CPU's last free hit is tried first (its own hint, since the
 * core's last_range is written under the lock). */
static bool in_ranges(const struct pmm_core *core, struct pmm_pcp *c, uint64_t f)
{
    unsigned lr = c->last_range;
    if (likely(lr < core->nranges && f >= core->ranges[lr].first && f < core->ranges[lr].end))
        return true;
    unsigned lo = 0, hi = core->nranges;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (core->ranges[mid].first <= f)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || f >= core->ranges[lo - 1].end)
        return false;
    c->last_range = lo - 1;
    return true;
}

static __attribute__((noinline)) bool allocatable_locked(struct pmm_pcp_pool *p, uint64_t f)
{
    spin_lock(&p->lock);
    bool ok = pmm_core_allocatable(p->core, f, 1);
    spin_unlock(&p->lock);
    return ok;
}

int pmm_pcp_free(struct pmm_pcp_pool *p, paddr_t pa)
{
    const struct pmm_core *core = p->core;
    uint64_t f = pa >> PAGE_SHIFT;
    if (pa & PAGE_MASK)
        return -E_ALIGN;
    if (f >= core->nframes)
        return -E_RANGE;
    struct pmm_pcp *c = mine(p);
    if (unlikely(!in_ranges(core, c, f)) && !allocatable_locked(p, f))
        return -E_BADFREE;
    if (unlikely(cached_test_and_set(p, f)))
        return -E_DOUBLE; /* in some CPU's cache already */
    if (unlikely(core_bit_racy(core, f))) {
        cached_clear(p, f); /* free in the core: not ours to cache */
        return -E_DOUBLE;
    }
    if (unlikely(__atomic_load_n(&c->drain_req, __ATOMIC_RELAXED)))
        honour(p, c);
    if (unlikely(c->count == PMM_PCP_HIGH))
        drain_batch(p, c);
    uint32_t n = c->count;
    c->frame[n] = pa;
    store32(&c->count, n + 1);
    return 0;
}

/* ---- queries ---------------------------------------------------------------- */

uint64_t pmm_pcp_total(struct pmm_pcp_pool *p)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        sum += load32(&p->cpu[i].count);
    return sum;
}

size_t pmm_pcp_count_of(struct pmm_pcp_pool *p, unsigned cpu)
{
    return cpu < SMP_MAX_CPUS ? load32(&p->cpu[cpu].count) : 0;
}

bool pmm_pcp_is_cached(struct pmm_pcp_pool *p, paddr_t pa)
{
    uint64_t f = pa >> PAGE_SHIFT;
    return f < p->core->nframes &&
           (__atomic_load_n(&p->cached[f >> 6], __ATOMIC_ACQUIRE) >> (f & 63)) & 1;
}

bool pmm_pcp_any_cached(struct pmm_pcp_pool *p, uint64_t first, uint64_t n)
{
    uint64_t end = MIN(first + n, p->core->nframes);
    for (uint64_t f = first; f < end;) {
        uint64_t w = __atomic_load_n(&p->cached[f >> 6], __ATOMIC_ACQUIRE);
        uint64_t lo = f & 63, hi = MIN(64, lo + (end - f));
        uint64_t mask = (hi == 64 ? ~0ULL : (1ULL << hi) - 1) & ~((1ULL << lo) - 1);
        if (w & mask)
            return true;
        f += hi - lo;
    }
    return false;
}
