/*
 * In-kernel tests of the TLB shootdown (prefix smp_, so they run in
 * 85-smp.sh on 1, 2, 4 and 8 CPUs and on 2 in Bochs). They run a function
 * on every online CPU at once through smp_call_all; on one CPU each still
 * runs and checks what one CPU can show. The map/unmap storm and the demand
 * race are in vmm_smp_ktest.c.
 */
#include "tlb_ktest.h"

/* ---- A caches a translation, B unmaps: A's next access must fault ------- */

#define PATTERN 0x5107ab1e5107ab1eULL
static volatile vaddr_t t_va;
static volatile int phase, a_rc_before, a_rc_after, b_rc;
static volatile uint64_t a_val_before, a_val_after;
static volatile paddr_t b_pa;
static struct arch_fault a_fault; /* what A's last access caught, recorded on A */

static void unmap_roles(void *arg)
{
    bool shoot = arg != NULL;
    unsigned me = this_cpu()->index;
    if (me == 1) { /* A: cache, wait, touch again */
        uint64_t v = 0;
        a_rc_before = arch_safe_copy(&v, (const void *)t_va, 8);
        a_val_before = v;
        __atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
        if (!wait_for(&phase, 2))
            return;
        v = 0;
        a_rc_after = arch_safe_copy(&v, (const void *)t_va, 8);
        a_val_after = v;
        a_fault = *arch_last_fault(); /* (each CPU keeps its own record) */
        invlpg(t_va); /* whatever stayed stale goes before the frame is freed */
        __atomic_store_n(&phase, 3, __ATOMIC_RELEASE);
    } else if (me == 0) { /* B: unmap while A holds the translation */
        if (!wait_for(&phase, 1))
            return;
        paddr_t pa = 0;
        b_rc = shoot ? vmm_unmap(t_va, &pa) : vmm_unmap_local_only(t_va, &pa);
        b_pa = pa;
        __atomic_store_n(&phase, 2, __ATOMIC_RELEASE);
        wait_for(&phase, 3);
    }
}

/* One round: a fresh page, the roles, and what A saw. shoot: unmap with a
 * shootdown, or only a local invlpg (the variant that must leave A stale). */
static void unmap_round(bool shoot, uint64_t *ipis, uint64_t *received)
{
    struct tlb_stats s0[SMP_MAX_CPUS], s1[SMP_MAX_CPUS];
    /* Two pages: the second keeps the PT, so the local-only unmap frees no
     * table that A's paging-structure cache might still walk. */
    uint64_t *p = vmm_alloc(2 * PAGE_SIZE, VMM_WRITE | VMM_NX);
    KT_ASSERT(p != NULL);
    p[0] = PATTERN;
    t_va = (vaddr_t)p;
    phase = 0;
    a_rc_before = a_rc_after = b_rc = -1;
    a_val_before = a_val_after = 0;
    a_fault = (struct arch_fault){0};
    b_pa = 0;
    stats_all(s0);
    if (two_cpus()) {
        KT_ASSERT(smp_call_all(unmap_roles, shoot ? (void *)1 : NULL, CALL_MS) > 0);
    } else { /* one CPU: B and A are the same, the unmap's invlpg is enough */
        uint64_t v = 0;
        a_rc_before = arch_safe_copy(&v, p, 8);
        a_val_before = v;
        paddr_t pa = 0;
        b_rc = shoot ? vmm_unmap(t_va, &pa) : vmm_unmap_local_only(t_va, &pa);
        b_pa = pa;
        v = 0;
        a_rc_after = arch_safe_copy(&v, p, 8);
        a_val_after = v;
        a_fault = *arch_last_fault();
        phase = 3;
    }
    stats_all(s1);
    *ipis = s1[0].ipis - s0[0].ipis;
    *received = two_cpus() ? s1[1].received - s0[1].received : 0;
    KT_ASSERT_EQ(phase, 3);
    KT_ASSERT_EQ(b_rc, 0);
    KT_ASSERT(b_pa != 0);
    pmm_free((void *)b_pa, 1); /* A flushed: nobody reaches it any more */
    vmm_free(p);
    KT_ASSERT_EQ(a_rc_before, 0);
    KT_ASSERT_EQ(a_val_before, PATTERN);
}

KTEST(smp_shootdown_unmap_faults)
{
    calibrate();
    uint64_t before = free_frames();
    uint64_t ipis = 0, received = 0;
    unsigned others = popcount(tlb_others_online());

    /* With the shootdown: A's access after the unmap faults. */
    unmap_round(true, &ipis, &received);
    if (ktest_failed())
        return;
    KT_ASSERT_EQ(a_rc_after, -E_RANGE);
    KT_ASSERT_EQ(a_fault.vector, 14);
    KT_ASSERT_EQ(a_fault.addr, t_va);
    KT_ASSERT_EQ(ipis, others); /* one page: one IPI per other CPU */
    KT_ASSERT_EQ(received, two_cpus() ? 1 : 0);

    /* Without it (local invlpg only): A still reads through its stale entry,
     * which is what the shootdown is for, and shows this test can fail. */
    unmap_round(false, &ipis, &received);
    if (ktest_failed())
        return;
    KT_ASSERT_EQ(ipis, 0);
    if (two_cpus()) {
        if (a_rc_after != 0)
            ktest_fail(__FILE__, __LINE__, "without a shootdown CPU 1 faulted (rc %d): "
                       "no stale entry to show", a_rc_after);
        KT_ASSERT_EQ(a_rc_after, 0);
        KT_ASSERT_EQ(a_val_after, PATTERN);
    } else {
        KT_ASSERT_EQ(a_rc_after, -E_RANGE);
    }
    KT_ASSERT_EQ(free_frames(), before);
}

/* ---- one IPI per target per batch; a large range is one full flush ------ */

struct delta {
    uint64_t shootdowns, ipis; /* on this CPU */
    uint64_t received, pages, full; /* on every target, each the same */
    bool same;                      /* every target saw the same */
};

/* Unmap (and free) the `pages` pages of a fresh range, measuring just the
 * unmap: the range's own bookkeeping (descriptor frees) stays outside. */
static struct delta unmap_measured(size_t pages, bool protect)
{
    struct tlb_stats s0[SMP_MAX_CPUS], s1[SMP_MAX_CPUS];
    struct delta d = {0};
    void *p = vmm_alloc(pages * PAGE_SIZE, VMM_WRITE | VMM_NX);
    if (!p)
        return d;
    stats_all(s0);
    if (protect)
        vmm_protect_range((vaddr_t)p, pages, VMM_NX);
    else
        vmm_unmap_release((vaddr_t)p, pages, true);
    stats_all(s1);
    vmm_free(p);
    unsigned me = this_cpu()->index;
    d.shootdowns = s1[me].shootdowns - s0[me].shootdowns;
    d.ipis = s1[me].ipis - s0[me].ipis;
    d.same = true;
    bool first = true;
    uint32_t t = tlb_others_online();
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        if (!(t & (1u << i)))
            continue;
        struct delta x = {0, 0, s1[i].received - s0[i].received, s1[i].pages - s0[i].pages,
                          s1[i].full - s0[i].full, true};
        if (first) {
            d.received = x.received, d.pages = x.pages, d.full = x.full;
            first = false;
        } else if (x.received != d.received || x.pages != d.pages || x.full != d.full) {
            d.same = false;
        }
    }
    return d;
}

KTEST(smp_shootdown_ranged_and_batched)
{
    uint64_t before = free_frames();
    size_t ranges = vmm_kva_ranges();
    unsigned n = popcount(tlb_others_online());
    uint64_t one = n ? 1 : 0;

    /* 8 pages: one request, one IPI per other CPU, 8 invlpg there. */
    struct delta d = unmap_measured(8, false);
    KT_ASSERT(d.same);
    KT_ASSERT_EQ(d.shootdowns, one);
    KT_ASSERT_EQ(d.ipis, n);
    KT_ASSERT_EQ(d.received, one);
    KT_ASSERT_EQ(d.pages, 8 * one);
    KT_ASSERT_EQ(d.full, 0);

    /* A protect of 4 pages: the same, batched. */
    d = unmap_measured(4, true);
    KT_ASSERT(d.same);
    KT_ASSERT_EQ(d.ipis, n);
    KT_ASSERT_EQ(d.received, one);
    KT_ASSERT_EQ(d.pages, 4 * one);

    /* 64 pages (past TLB_RANGE_MAX): one request, a full flush. */
    d = unmap_measured(64, false);
    KT_ASSERT(d.same);
    KT_ASSERT_EQ(d.ipis, n);
    KT_ASSERT_EQ(d.received, one);
    KT_ASSERT_EQ(d.pages, 0);
    KT_ASSERT_EQ(d.full, one);

    /* One page more than a batch: two requests (full, then 1 page, unless
     * that page emptied a page table: full again). */
    d = unmap_measured(VMM_BATCH_PAGES + 1, false);
    KT_ASSERT(d.same);
    KT_ASSERT_EQ(d.shootdowns, 2 * one);
    KT_ASSERT_EQ(d.ipis, 2 * n);
    KT_ASSERT_EQ(d.received, 2 * one);
    KT_ASSERT(d.full >= one);
    KT_ASSERT_EQ(d.full + (d.pages ? 1 : 0), 2 * one);
    KT_ASSERT(d.pages <= 1);

    KT_ASSERT_EQ(vmm_kva_ranges(), ranges);
    KT_ASSERT_EQ(free_frames(), before);
}

/* ---- a user space's shootdown goes only where the space is active ------- */

static struct vmm_space *u_space;
static volatile int u_phase;

static void visit_space(void *arg)
{
    UNUSED(arg);
    if (this_cpu()->index != 1)
        return;
    vmm_space_switch(u_space); /* its bit in `active` */
    __atomic_store_n(&u_phase, 1, __ATOMIC_RELEASE);
    wait_for(&u_phase, 2);
    vmm_space_switch(vmm_space_kernel()); /* and gone again */
    __atomic_store_n(&u_phase, 3, __ATOMIC_RELEASE);
}

static volatile int u_rc;
static volatile uint64_t u_ipis, u_got1, u_got_others;

/* CPU 0's part while CPU 1 runs the space: unmap a page of it. */
static void unmap_in_visited(void *arg)
{
    vaddr_t va = (vaddr_t)(uintptr_t)arg;
    if (this_cpu()->index != 0)
        return;
    struct tlb_stats s0[SMP_MAX_CPUS], s1[SMP_MAX_CPUS];
    if (!wait_for(&u_phase, 1))
        return;
    stats_all(s0);
    u_rc = vmm_space_unmap(u_space, va, NULL);
    stats_all(s1);
    u_ipis = s1[0].ipis - s0[0].ipis;
    u_got1 = s1[1].received - s0[1].received;
    u_got_others = 0;
    for (unsigned i = 2; i < SMP_MAX_CPUS; i++)
        u_got_others += s1[i].received - s0[i].received;
    __atomic_store_n(&u_phase, 2, __ATOMIC_RELEASE);
    wait_for(&u_phase, 3);
}

static void user_roles(void *arg)
{
    visit_space(arg);
    unmap_in_visited(arg);
}

KTEST(smp_shootdown_user_space_targets)
{
    calibrate();
    uint64_t before = free_frames();
    struct tlb_stats s0[SMP_MAX_CPUS], s1[SMP_MAX_CPUS];
    u_space = vmm_space_create();
    KT_ASSERT(u_space != NULL);
    paddr_t pa = (paddr_t)pmm_alloc(1);
    KT_ASSERT(pa != 0);
    vaddr_t va = 0x400000;
    for (unsigned i = 0; i < 3; i++)
        KT_ASSERT_EQ(vmm_space_map(u_space, va + i * PAGE_SIZE, pa, VMM_USER | VMM_NX), 0);

    /* Active nowhere: an unmap there needs no IPI at all. */
    stats_all(s0);
    int rc0 = vmm_space_unmap(u_space, va, NULL);
    stats_all(s1);
    uint64_t idle_ipis = s1[0].ipis - s0[0].ipis;

    /* Active on CPU 1 alone: one IPI, to CPU 1. */
    u_phase = 0;
    u_rc = -1;
    u_ipis = u_got1 = u_got_others = 0;
    int ran = two_cpus() ? smp_call_all(user_roles, (void *)(uintptr_t)(va + PAGE_SIZE), CALL_MS)
                         : 0;
    uint32_t active_after = u_space->active;

    /* Switched away: nothing again. */
    stats_all(s0);
    int rc2 = vmm_space_unmap(u_space, va + 2 * PAGE_SIZE, NULL);
    stats_all(s1);
    uint64_t gone_ipis = s1[0].ipis - s0[0].ipis;
    if (!two_cpus())
        vmm_space_unmap(u_space, va + PAGE_SIZE, NULL);
    vmm_space_destroy(u_space);
    pmm_free((void *)pa, 1);

    KT_ASSERT_EQ(rc0, 0);
    KT_ASSERT_EQ(rc2, 0);
    KT_ASSERT_EQ(idle_ipis, 0);
    KT_ASSERT_EQ(gone_ipis, 0);
    KT_ASSERT_EQ(active_after, 0);
    if (two_cpus()) {
        KT_ASSERT(ran > 0);
        KT_ASSERT_EQ(u_phase, 3);
        KT_ASSERT_EQ(u_rc, 0);
        KT_ASSERT_EQ(u_ipis, 1);
        KT_ASSERT_EQ(u_got1, 1);
        KT_ASSERT_EQ(u_got_others, 0);
    }
    KT_ASSERT_EQ(free_frames(), before);
}

/* ---- every CPU shoots at every other at once: nobody deadlocks ---------- */

#define VOLLEYS 4
static uint64_t volley_cycles[SMP_MAX_CPUS];

static void crossfire(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    barrier(n);
    /* Each waits for the others' flushes while they wait for its own: only
     * answering while waiting lets all of them through. */
    uint64_t t0 = rdtsc_fenced();
    for (unsigned v = 0; v < VOLLEYS; v++)
        tlb_shootdown(tlb_others_online(), KVA_LIMIT - PAGE_SIZE, 1);
    volley_cycles[this_cpu()->index] = rdtsc_fenced() - t0;
    barrier(n);
}

KTEST(smp_shootdown_crossfire)
{
    calibrate();
    struct tlb_stats s0[SMP_MAX_CPUS], s1[SMP_MAX_CPUS];
    unsigned n = smp_online();
    stats_all(s0);
    int ran = smp_call_all(crossfire, (void *)(uintptr_t)n, CALL_MS);
    stats_all(s1);
    KT_ASSERT_EQ(ran, n);
    uint64_t cycles = 0;
    for (unsigned i = 0; i < n; i++)
        cycles += volley_cycles[i];
    if (n > 1) /* a figure, not a check: emulated CPUs share two host cores */
        printk("smp_shootdown_crossfire: %u CPUs, %llu TSC cycles per request "
               "(all shooting at once)\n", n, (unsigned long long)(cycles / n / VOLLEYS));
    for (unsigned i = 0; i < n; i++) {
        uint64_t got = s1[i].received - s0[i].received, sent = s1[i].ipis - s0[i].ipis;
        if (got != (uint64_t)VOLLEYS * (n - 1) || sent != (uint64_t)VOLLEYS * (n - 1))
            ktest_fail(__FILE__, __LINE__, "CPU %u sent %llu and answered %llu requests", i,
                       (unsigned long long)sent, (unsigned long long)got);
        KT_ASSERT_EQ(got, (uint64_t)VOLLEYS * (n - 1));
        KT_ASSERT_EQ(s1[i].pages - s0[i].pages, (uint64_t)VOLLEYS * (n - 1));
    }
}

/* ---- a freed page table's window translation goes too ------------------- */

static vaddr_t w_va;
static volatile int w_phase;
static volatile uint64_t w_before, w_after;
static paddr_t w_f1, w_f2;

/* The PTE of w_va, read through the recursive window: that caches the
 * window's translation of the PT itself, under its own address. */
static uint64_t pte_through_window(void)
{
    return *(volatile uint64_t *)pg_pte_addr(RECURSIVE_SLOT, w_va);
}

static void window_roles(void *arg)
{
    UNUSED(arg);
    unsigned me = this_cpu()->index;
    if (me == 1) {
        w_before = pte_through_window();
        __atomic_store_n(&w_phase, 1, __ATOMIC_RELEASE);
        if (!wait_for(&w_phase, 2))
            return;
        w_after = pte_through_window(); /* the new PT, not the freed one */
        __atomic_store_n(&w_phase, 3, __ATOMIC_RELEASE);
    } else if (me == 0) {
        if (!wait_for(&w_phase, 1))
            return;
        vmm_unmap(w_va, NULL); /* empties the PT: it goes back to the PMM */
        /* Hold the frame the PMM hands out next (likely the old PT), so the
         * new PT is elsewhere and a stale window would show the wrong one. */
        void *hold = pmm_alloc(1);
        vmm_map(w_va, w_f2, VMM_WRITE | VMM_NX);
        pmm_free(hold, 1);
        __atomic_store_n(&w_phase, 2, __ATOMIC_RELEASE);
        wait_for(&w_phase, 3);
    }
}

KTEST(smp_shootdown_table_window)
{
    calibrate();
    uint64_t before = free_frames();
    /* A 4 MiB reservation holds a 2 MiB-aligned span whose PT is ours. */
    void *r = vmm_alloc(4ULL << 20, VMM_DEMAND | VMM_WRITE | VMM_NX);
    KT_ASSERT(r != NULL);
    w_va = ALIGN_UP((vaddr_t)r + PAGE_SIZE, 2ULL << 20);
    w_f1 = (paddr_t)pmm_alloc(1);
    w_f2 = (paddr_t)pmm_alloc(1);
    KT_ASSERT(w_f1 && w_f2);
    KT_ASSERT_EQ(vmm_map(w_va, w_f1, VMM_WRITE | VMM_NX), 0);
    w_phase = 0;
    w_before = w_after = 0;
    if (two_cpus()) {
        KT_ASSERT(smp_call_all(window_roles, NULL, CALL_MS) > 0);
    } else {
        w_before = pte_through_window();
        vmm_unmap(w_va, NULL);
        void *hold = pmm_alloc(1);
        vmm_map(w_va, w_f2, VMM_WRITE | VMM_NX);
        pmm_free(hold, 1);
        w_after = pte_through_window();
        w_phase = 3;
    }
    paddr_t now = 0;
    int rc = vmm_unmap(w_va, &now);
    vmm_free(r);
    pmm_free((void *)w_f1, 1);
    pmm_free((void *)w_f2, 1);
    KT_ASSERT_EQ(w_phase, 3);
    KT_ASSERT_EQ(rc, 0);
    KT_ASSERT_EQ(now, w_f2);
    KT_ASSERT_EQ(w_before & PTE_ADDR, w_f1);
    KT_ASSERT_EQ(w_after & PTE_ADDR, w_f2);
    KT_ASSERT_EQ(free_frames(), before);
}
