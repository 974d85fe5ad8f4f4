/*
 * In-kernel SMP tests of the PMM (prefix smp_, run by 85-smp.sh on 1, 2, 4
 * and 8 CPUs in QEMU and 2 in Bochs). Every online CPU runs the same storm
 * at once through smp_call_all. Frames carry two tags: an owner byte in a
 * table the test keeps (compare-and-swap on every hand-out and free, so a
 * frame handed to two CPUs at once is caught the moment it happens) and the
 * owner's tag written into the frame itself, checked before the free.
 * Afterwards every PMM counter is back at its start (cached frames count as
 * free), and again once every CPU has drained its cache.
 *
 * The temp map (vmm_map_temp) behind pmm_frame_map is one shared window
 * today, so the tests serialise their content writes with a lock of their
 * own; the PMM calls themselves run concurrently. That lock is handed from
 * vCPU to vCPU thousands of times, which on an oversubscribed host costs
 * scheduling delays, so the rounds are few.
 */
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/pmm.h>
#include <pagoda/smp.h>
#include <pagoda/spinlock.h>
#include <pagoda/string.h>

#include "pmm_priv.h"

#define CALL_MS 60000
#define TAG_FRAMES (1u << 18) /* owner bytes for the first 1 GiB */
#define STORM_ROUNDS 6
#define STORM_SINGLES 40
#define BAR_SPINS 400000000ULL

static uint8_t tag_owner[TAG_FRAMES]; /* 0 free, cpu + 1 held */
static volatile int errors, alloc_failures;
static spinlock_t map_lock = SPINLOCK_INIT("smp_pmm_map", LOCK_LEVEL_TEST);

static void bad(void) { __atomic_fetch_add(&errors, 1, __ATOMIC_SEQ_CST); }

/* Move frame f's owner byte from `from` to `to`, or count an error. */
static void own(paddr_t pa, uint8_t from, uint8_t to)
{
    uint64_t f = pa >> PAGE_SHIFT;
    uint8_t want = from;
    if (f < TAG_FRAMES && !__atomic_compare_exchange_n(&tag_owner[f], &want, to, false,
                                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        bad();
}

static uint64_t tag_of(paddr_t pa, unsigned cpu)
{
    return 0x5043500000000000ULL | ((uint64_t)cpu << 40) | (pa >> PAGE_SHIFT);
}

/* Write (check) the tag into (in) the first and last word of each frame. */
static void tag_frames(paddr_t pa, size_t n, unsigned cpu, bool write)
{
    for (size_t i = 0; i < n; i++) {
        paddr_t f = pa + i * PAGE_SIZE;
        spin_lock(&map_lock);
        uint64_t *w = pmm_frame_map(f);
        if (w) {
            if (write)
                w[0] = w[511] = tag_of(f, cpu);
            else if (w[0] != tag_of(f, cpu) || w[511] != tag_of(f, cpu))
                bad();
            pmm_frame_unmap(w);
        }
        spin_unlock(&map_lock);
    }
}

static void take(paddr_t pa, size_t n, unsigned cpu)
{
    for (size_t i = 0; i < n; i++)
        own(pa + i * PAGE_SIZE, 0, (uint8_t)(cpu + 1));
    tag_frames(pa, n, cpu, true);
}

static void give(paddr_t pa, size_t n, unsigned cpu)
{
    tag_frames(pa, n, cpu, false);
    for (size_t i = 0; i < n; i++)
        own(pa + i * PAGE_SIZE, (uint8_t)(cpu + 1), 0);
    if (pmm_free_checked((void *)(uintptr_t)pa, n) != 0)
        bad();
}

static void snap(struct pmm_stats *st) { pmm_get_stats(st); }

static bool same_counters(const struct pmm_stats *a, const struct pmm_stats *b)
{
    return a->usable_pages == b->usable_pages && a->free_pages == b->free_pages &&
           a->used_pages == b->used_pages && a->reserved_pages == b->reserved_pages;
}

static void flush_mine(void *arg) { pmm_pcp_flush(); }

/* Every CPU drains its cache; then nothing may be cached anywhere. */
static bool drain_everyone(void)
{
    int ran = smp_call_all(flush_mine, NULL, CALL_MS);
    struct pmm_stats st;
    snap(&st);
    return ran == (int)smp_online() && st.cached_pages == 0;
}

/* ---- every CPU at once: single frames and runs ------------------------------ */

static void storm(void *arg)
{
    unsigned cpu = this_cpu()->index;
    static paddr_t held[SMP_MAX_CPUS][STORM_SINGLES];
    paddr_t *h = held[cpu];
    for (int r = 0; r < STORM_ROUNDS; r++) {
        size_t run = 2 + (size_t)(r % 7);
        paddr_t big = (paddr_t)(uintptr_t)pmm_alloc(run);
        if (big)
            take(big, run, cpu);
        else
            __atomic_fetch_add(&alloc_failures, 1, __ATOMIC_SEQ_CST);
        for (int i = 0; i < STORM_SINGLES; i++) {
            h[i] = (paddr_t)(uintptr_t)pmm_alloc(1);
            if (h[i])
                take(h[i], 1, cpu);
            else
                __atomic_fetch_add(&alloc_failures, 1, __ATOMIC_SEQ_CST);
        }
        /* Back in a different order from the allocation's. */
        for (int i = 0; i < STORM_SINGLES; i += 2)
            if (h[i])
                give(h[i], 1, cpu);
        if (big)
            give(big, run, cpu);
        for (int i = 1; i < STORM_SINGLES; i += 2)
            if (h[i])
                give(h[i], 1, cpu);
    }
}

KTEST(smp_pmm_storm)
{
    struct pmm_stats s0, s1;
    errors = alloc_failures = 0;
    snap(&s0);
    int ran = smp_call_all(storm, NULL, CALL_MS);
    snap(&s1);
    KT_ASSERT_EQ(ran, smp_online());
    KT_ASSERT_EQ(errors, 0);         /* a frame handed out twice, or a tag changed */
    KT_ASSERT_EQ(alloc_failures, 0); /* plenty of memory: none may fail */
    KT_ASSERT(same_counters(&s0, &s1));
    size_t sum = 0;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        sum += pmm_pcp_count(i);
    KT_ASSERT_EQ(s1.cached_pages, sum);
    KT_ASSERT(drain_everyone());
    snap(&s1);
    KT_ASSERT(same_counters(&s0, &s1));
    KT_ASSERT_EQ(pmm_core_instance()->free_frames, s1.free_pages);
    for (uint64_t f = 0; f < TAG_FRAMES; f++)
        if (tag_owner[f])
            KT_ASSERT(!"a frame still has an owner");
}

/* ---- CPU A allocates, CPU B frees ------------------------------------------- */

#define XFER 40
#define XFER_ROUNDS 4
static paddr_t slots[SMP_MAX_CPUS][XFER]; /* slots[i]: allocated by CPU i */
static volatile unsigned bar_count, bar_gen;

/* All online CPUs meet here; false (an error counted) on a timeout. */
static bool barrier(void)
{
    unsigned gen = __atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&bar_count, 1, __ATOMIC_ACQ_REL) == smp_online()) {
        __atomic_store_n(&bar_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&bar_gen, gen + 1, __ATOMIC_RELEASE);
        return true;
    }
    for (uint64_t s = 0; s < BAR_SPINS; s++)
        if (__atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE) != gen)
            return true;
        else
            __asm__ volatile("pause");
    bad();
    return false;
}

static void cross(void *arg)
{
    unsigned me = this_cpu()->index, n = smp_online();
    unsigned from = (me + n - 1) % n; /* we free what the CPU before us took */
    for (int r = 0; r < XFER_ROUNDS; r++) {
        for (int i = 0; i < XFER; i++) {
            slots[me][i] = (paddr_t)(uintptr_t)pmm_alloc(1);
            if (slots[me][i])
                take(slots[me][i], 1, me);
            else
                __atomic_fetch_add(&alloc_failures, 1, __ATOMIC_SEQ_CST);
        }
        if (!barrier())
            return;
        for (int i = 0; i < XFER; i++)
            if (slots[from][i])
                give(slots[from][i], 1, from); /* its tag, our cache */
        if (!barrier())
            return;
        /* A double free from the allocating CPU of a frame another CPU
         * freed into its own cache: caught like any other. */
        if (slots[me][0] &&
            pmm_free_checked((void *)(uintptr_t)slots[me][0], 1) != -E_DOUBLE)
            bad();
        if (!barrier())
            return;
    }
}

KTEST(smp_pmm_cross_cpu_free)
{
    struct pmm_stats s0, s1;
    errors = alloc_failures = 0;
    bar_count = 0;
    KT_ASSERT(drain_everyone());
    snap(&s0);
    int ran = smp_call_all(cross, NULL, CALL_MS);
    snap(&s1);
    KT_ASSERT_EQ(ran, smp_online());
    KT_ASSERT_EQ(errors, 0);
    KT_ASSERT_EQ(alloc_failures, 0);
    KT_ASSERT(same_counters(&s0, &s1));
    if (smp_online() > 1)
        KT_ASSERT(s1.cached_pages > 0); /* the frees landed in the freeing CPUs' caches */
    KT_ASSERT(drain_everyone());
    snap(&s1);
    KT_ASSERT(same_counters(&s0, &s1));
    KT_ASSERT_EQ(pmm_core_instance()->free_frames, s1.free_pages);
}
