/*
 * Per-CPU frame caches in front of the PMM core (src/mm/pmm_pcp.c).
 *
 * A `struct pmm_pcp_pool` puts one small stack of free single frames per
 * CPU in front of a `struct pmm_core` and owns the global lock that guards
 * the core. The kernel's pmm.c has one pool; the host tests build their own
 * over fake maps (threads stand in for CPUs). The theory of operation is at
 * the top of pmm_pcp.c.
 */
#ifndef PAGODA_PMM_PCP_H
#define PAGODA_PMM_PCP_H

#include <pagoda/percpu.h>
#include <pagoda/pmm_core.h>
#include <pagoda/spinlock.h>

#define PMM_PCP_BATCH 32 /* frames moved per trip to the core (refill, drain) */
#define PMM_PCP_HIGH 128 /* a cache's capacity: a free into a full one drains a batch */
/* Spins a CPU that found the core empty waits for the others to honour its
 * drain request before it gives up (OOM only; seconds at most). */
#define PMM_PCP_STEAL_SPINS (1u << 22)

struct pmm_pcp {
    /* Frames in frame[0..count), the hottest on top. Only the owner writes
     * count (atomic stores, so that stats may read it from any CPU), and
     * only the owner touches frame[]. */
    uint32_t count;
    /* Set by a CPU that found the core empty; the owner drains its whole
     * cache at its next PMM call (or idle poll) and clears it. */
    uint32_t drain_req;
    uint32_t last_range;      /* the core range this CPU's last free hit (a hint) */
    uint64_t refills, drains; /* batches moved, for the monitor and tests */
    paddr_t frame[PMM_PCP_HIGH];
} __attribute__((aligned(64)));

struct pmm_pcp_pool {
    struct pmm_core *core;
    spinlock_t lock;  /* LOCK_LEVEL_PMM: the core, and every refill and drain */
    uint64_t *cached; /* one bit per frame: set while the frame sits in a cache */
    struct pmm_pcp cpu[SMP_MAX_CPUS];
};

/* Bytes (a page multiple) of the `cached` bit array for nframes frames. */
size_t pmm_pcp_cached_bytes(uint64_t nframes);
/* Set the pool up over an initialised core, with `cached` memory of
 * pmm_pcp_cached_bytes(core->nframes) bytes (zeroed here). */
void pmm_pcp_init(struct pmm_pcp_pool *p, struct pmm_core *core, void *cached);
/* The cached bits now live at `cached` (same contents, a new mapping). */
void pmm_pcp_move(struct pmm_pcp_pool *p, void *cached);
/* Host builds: forget the pool (its threads' exit hooks stop draining it).
 * Call before the pool's memory goes away. */
void pmm_pcp_fini(struct pmm_pcp_pool *p);

/* One free frame for the running CPU: from its cache, refilled from the core
 * in a batch when empty, after draining other CPUs' caches when the core is
 * empty too. 0 when there is none anywhere. Takes the lock only to refill. */
paddr_t pmm_pcp_alloc(struct pmm_pcp_pool *p);
/* Give one frame to the running CPU's cache: 0, or -E_ALIGN, -E_RANGE,
 * -E_BADFREE, -E_DOUBLE (free in the core, or already in any CPU's cache),
 * as pmm_core_free; nothing changes on error. */
int pmm_pcp_free(struct pmm_pcp_pool *p, paddr_t pa);

/* The running CPU's whole cache back to the core (takes the lock). */
void pmm_pcp_drain(struct pmm_pcp_pool *p);
/* Honour a pending drain request of the running CPU (the idle loop's call). */
void pmm_pcp_poll(struct pmm_pcp_pool *p);
/* Ask every other CPU with cached frames to drain, and wait (bounded) until
 * they have. Call without the lock. False when nobody had any. */
bool pmm_pcp_steal(struct pmm_pcp_pool *p);

/* Frames in all caches. Exact against the core's free count when read
 * under the lock (refills and drains move both under it). */
uint64_t pmm_pcp_total(struct pmm_pcp_pool *p);
/* Frames in CPU cpu's cache (0 for an index out of range). */
size_t pmm_pcp_count_of(struct pmm_pcp_pool *p, unsigned cpu);
/* Does frame pa sit in some CPU's cache? */
bool pmm_pcp_is_cached(struct pmm_pcp_pool *p, paddr_t pa);
/* Does any frame of [first, first + n) sit in a cache? (free checks of runs) */
bool pmm_pcp_any_cached(struct pmm_pcp_pool *p, uint64_t first, uint64_t n);

#endif
