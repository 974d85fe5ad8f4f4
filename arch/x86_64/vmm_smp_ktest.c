/*
 * In-kernel tests of the SMP VMM under load (prefix smp_, run by 85-smp.sh
 * on 1, 2, 4 and 8 CPUs and on 2 in Bochs): a map/unmap storm in a shared
 * kernel range and every CPU demand-faulting the same pages at once.
 *
 * Until the SMP-safe PMM and heap are merged, the allocations these storms
 * make from several CPUs at once go through alloc_lock (a test lock), or run
 * under the VMM's own range lock (demand faults); the page-table operations
 * themselves run concurrently, on pinned page tables that never need the
 * PMM. Once those allocators are SMP-safe, alloc_lock can go.
 */
#include "tlb_ktest.h"

static spinlock_t alloc_lock = SPINLOCK_INIT("smp_test_alloc", LOCK_LEVEL_TEST);

/* ---- map/unmap storm in a shared kernel range --------------------------- */

#define SLOT 4      /* pages of the shared range per CPU */
#define ROUNDS 4
static vaddr_t storm_base;                   /* the shared range */
static paddr_t storm_frames[SMP_MAX_CPUS][SLOT];
static volatile int storm_errors[SMP_MAX_CPUS];
static volatile int storm_first_error[SMP_MAX_CPUS];

static void storm_fail(unsigned me, int why)
{
    if (!storm_errors[me])
        storm_first_error[me] = why;
    storm_errors[me]++;
}

static uint64_t tag(unsigned cpu, unsigned round, unsigned page)
{
    return 0x7a6000000000ULL | ((uint64_t)cpu << 24) | ((uint64_t)round << 12) | page;
}

static void storm(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg, me = this_cpu()->index;
    barrier(n);
    vaddr_t mine = storm_base + (1 + (vaddr_t)me * SLOT) * PAGE_SIZE;
    for (unsigned r = 0; r < ROUNDS; r++) {
        /* Direct maps in the shared range, each round a different frame
         * behind each page: a stale entry would show last round's tag. */
        for (unsigned j = 0; j < SLOT; j++)
            if (vmm_map(mine + j * PAGE_SIZE, storm_frames[me][(j + r) % SLOT],
                        VMM_WRITE | VMM_NX) != 0)
                storm_fail(me, 1);
        for (unsigned j = 0; j < SLOT; j++) {
            volatile uint64_t *w = (volatile uint64_t *)(mine + j * PAGE_SIZE);
            w[0] = tag(me, r, j);
            w[511] = ~tag(me, r, j);
        }
        for (unsigned j = 0; j < SLOT; j++) {
            volatile uint64_t *w = (volatile uint64_t *)(mine + j * PAGE_SIZE);
            paddr_t pa = 0;
            if (w[0] != tag(me, r, j) || w[511] != ~tag(me, r, j))
                storm_fail(me, 2);
            if (vmm_translate((vaddr_t)w, &pa, NULL) != 0 ||
                pa != storm_frames[me][(j + r) % SLOT])
                storm_fail(me, 3);
        }
        if (r & 1) { /* batched */
            if (vmm_unmap_range(mine, SLOT) != 0)
                storm_fail(me, 4);
        } else {
            for (unsigned j = 0; j < SLOT; j++) {
                paddr_t pa = 0;
                if (vmm_unmap(mine + j * PAGE_SIZE, &pa) != 0 ||
                    pa != storm_frames[me][(j + r) % SLOT])
                    storm_fail(me, 5);
            }
        }
        uint64_t v;
        if (arch_safe_copy(&v, (const void *)mine, 8) != -E_RANGE)
            storm_fail(me, 6); /* unmapped, and flushed here */

        /* vmm_alloc / vmm_free: allocation serialised until the PMM is
         * SMP-safe; the tags are written and checked concurrently. */
        spin_lock(&alloc_lock);
        volatile uint64_t *p = vmm_alloc(3 * PAGE_SIZE, VMM_WRITE | VMM_NX);
        spin_unlock(&alloc_lock);
        if (!p) {
            storm_fail(me, 7);
            continue;
        }
        for (unsigned j = 0; j < 3; j++)
            p[j * 512] = tag(me, r, 100 + j);
        for (unsigned j = 0; j < 3; j++)
            if (p[j * 512] != tag(me, r, 100 + j))
                storm_fail(me, 8);
        spin_lock(&alloc_lock);
        vmm_free((void *)p);
        spin_unlock(&alloc_lock);
    }
    if (vmm_temp_slots_used() != 0)
        storm_fail(me, 9);
    barrier(n);
}

KTEST(smp_map_unmap_storm)
{
    uint64_t before = free_frames();
    size_t ranges = vmm_kva_ranges();
    struct tlb_stats s0[SMP_MAX_CPUS], s1[SMP_MAX_CPUS];
    unsigned n = smp_online();
    size_t pages = 2 + (size_t)SMP_MAX_CPUS * SLOT;
    /* The shared range: its first and last pages stay mapped throughout,
     * pinning its page tables (fewer than 512 pages: at most two PTs), so
     * the storm's maps and unmaps never allocate or free a table. */
    void *base = vmm_alloc(pages * PAGE_SIZE, VMM_WRITE | VMM_NX);
    KT_ASSERT(base != NULL);
    storm_base = (vaddr_t)base;
    vmm_unmap_release(storm_base + PAGE_SIZE, pages - 2, true);
    for (unsigned c = 0; c < n; c++)
        for (unsigned j = 0; j < SLOT; j++) {
            storm_frames[c][j] = (paddr_t)pmm_alloc(1);
            KT_ASSERT(storm_frames[c][j] != 0);
        }
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
        storm_errors[c] = storm_first_error[c] = 0;
    stats_all(s0);
    int ran = smp_call_all(storm, (void *)(uintptr_t)n, CALL_MS);
    stats_all(s1);
    for (unsigned c = 0; c < n; c++)
        for (unsigned j = 0; j < SLOT; j++)
            pmm_free((void *)storm_frames[c][j], 1);
    vmm_free(base);
    KT_ASSERT_EQ(ran, n);
    for (unsigned c = 0; c < n; c++) {
        if (storm_errors[c])
            ktest_fail(__FILE__, __LINE__, "CPU %u: %d errors, the first of kind %d", c,
                       storm_errors[c], storm_first_error[c]);
        KT_ASSERT_EQ(storm_errors[c], 0);
    }
    /* Every IPI sent was answered, and every request reached its targets. */
    uint64_t sent = 0, got = 0;
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++) {
        sent += s1[c].ipis - s0[c].ipis;
        got += s1[c].received - s0[c].received;
    }
    KT_ASSERT_EQ(got, sent);
    if (n > 1)
        KT_ASSERT(sent >= (uint64_t)n * ROUNDS); /* every CPU's unmaps went out */
    KT_ASSERT_EQ(vmm_kva_ranges(), ranges);
    KT_ASSERT_EQ(vmm_temp_slots_used(), 0);
    KT_ASSERT_EQ(free_frames(), before);
}

/* ---- every CPU faults on the same demand pages at once ------------------ */

#define DPAGES 16
static volatile uint64_t *demand_base;
static paddr_t demand_seen[SMP_MAX_CPUS][DPAGES];

static volatile int held_ok;

static void demand_touch(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg, me = this_cpu()->index;
    /* First a race made certain: CPU 0 holds the range lock while every
     * other CPU faults on page 0, so they all wait inside their fault
     * handlers; let go, one maps the page, the rest find it mapped. */
    if (me == 0) {
        vmm_kva_lock_test(true);
        barrier(n);
        uint64_t t0 = rdtsc_fenced();
        while (vmm_kva_waiters() < n - 1 && rdtsc_fenced() - t0 < WAIT_MS * tsc_ms) {
            tlb_poll();
            cpu_relax();
        }
        held_ok = vmm_kva_waiters() == n - 1;
        vmm_kva_lock_test(false);
        __atomic_fetch_add(&demand_base[0], 1, __ATOMIC_SEQ_CST);
    } else {
        barrier(n);
        __atomic_fetch_add(&demand_base[0], 1, __ATOMIC_SEQ_CST);
    }
    barrier(n);
    /* Then a free-for-all on the other pages, in the same order. */
    for (unsigned j = 1; j < DPAGES; j++)
        __atomic_fetch_add(&demand_base[j * 512], 1, __ATOMIC_SEQ_CST);
    for (unsigned j = 0; j < DPAGES; j++) {
        paddr_t pa = 0;
        vmm_translate((vaddr_t)&demand_base[j * 512], &pa, NULL);
        demand_seen[me][j] = pa;
    }
    barrier(n);
}

KTEST(smp_kernel_demand_fault_race)
{
    uint64_t before = free_frames();
    size_t ranges = vmm_kva_ranges();
    unsigned n = smp_online();
    uint64_t faults0 = vmm_demand_faults, races0 = vmm_demand_races;
    demand_base = vmm_alloc(DPAGES * PAGE_SIZE, VMM_DEMAND | VMM_WRITE | VMM_NX);
    KT_ASSERT(demand_base != NULL);
    uint64_t reserved = free_frames(); /* the descriptor may take a frame */
    calibrate();
    held_ok = 0;
    int ran = smp_call_all(demand_touch, (void *)(uintptr_t)n, CALL_MS);
    uint64_t faults = vmm_demand_faults - faults0, races = vmm_demand_races - races0;
    uint64_t counts[DPAGES];
    for (unsigned j = 0; j < DPAGES; j++)
        counts[j] = demand_base[j * 512];
    uint64_t backed = free_frames();
    vmm_free((void *)demand_base);
    printk("smp_kernel_demand_fault_race: %u CPUs, %llu pages backed, %llu races resolved\n",
           n, (unsigned long long)faults, (unsigned long long)races);
    KT_ASSERT_EQ(ran, n);
    KT_ASSERT(held_ok);             /* every other CPU did wait in its fault */
    KT_ASSERT(races >= (n > 2 ? n - 2 : 0)); /* all but one of them lost */
    KT_ASSERT_EQ(faults, DPAGES); /* exactly one frame per page */
    for (unsigned j = 0; j < DPAGES; j++) {
        KT_ASSERT_EQ(counts[j], n); /* every CPU's add landed in one frame */
        KT_ASSERT(demand_seen[0][j] != 0);
        for (unsigned c = 1; c < n; c++)
            KT_ASSERT_EQ(demand_seen[c][j], demand_seen[0][j]);
        for (unsigned k = 0; k < j; k++)
            KT_ASSERT(demand_seen[0][k] != demand_seen[0][j]);
    }
    /* Page tables aside, the touch took exactly DPAGES frames. */
    KT_ASSERT(reserved - backed >= DPAGES);
    KT_ASSERT(reserved - backed <= DPAGES + 3);
    KT_ASSERT_EQ(vmm_kva_ranges(), ranges);
    KT_ASSERT_EQ(free_frames(), before);
}
