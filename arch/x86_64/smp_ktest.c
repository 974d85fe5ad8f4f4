/*
 * In-kernel SMP tests (prefix smp_). Most run a function on every online
 * CPU at once through smp_call_all. On one CPU they still run, on the one
 * CPU, and the tests that need a second CPU check the one-CPU case instead.
 */
#include <arch/arch.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/spinlock.h>
#include <pagoda/string.h>

#include "irq.h"
#include "lapic.h"
#include "x86.h"

#define CALL_MS 5000

/* ---- a spinlock reporter that records instead of panicking ------------- */

static volatile int rep_count;
static const char *volatile rep_what;
static volatile int rep_cpu, rep_other;

static void record(const spinlock_t *l, const char *what, int other)
{
    rep_what = what;
    rep_cpu = (int)this_cpu()->index;
    rep_other = other;
    __atomic_fetch_add(&rep_count, 1, __ATOMIC_SEQ_CST);
}

static void rep_begin(void)
{
    rep_count = 0;
    rep_what = NULL;
    rep_cpu = rep_other = -2;
    spin_report = record;
}

static void rep_end(void) { spin_report = spin_report_panic; }

static bool rep_says(const char *word)
{
    if (!rep_what)
        return false;
    size_t n = strlen(word);
    for (const char *p = rep_what; *p; p++)
        if (strncmp(p, word, n) == 0)
            return true;
    return false;
}

/* Wait (busy, on the PIT) until *v != 0, at most ms: true if it happened. */
static bool wait_flag(volatile int *v, unsigned ms)
{
    for (unsigned i = 0; i < ms * 10 && !__atomic_load_n(v, __ATOMIC_ACQUIRE); i++)
        pit_delay_us(100);
    return __atomic_load_n(v, __ATOMIC_ACQUIRE) != 0;
}

/* ---- every CPU online and ticking --------------------------------------- */

KTEST(smp_all_online_ticking)
{
    unsigned n = cpu_count();
    KT_ASSERT(n >= 1);
    KT_ASSERT_EQ(smp_online(), n); /* no CPU failed or stopped */
    uint64_t before[SMP_MAX_CPUS];
    for (unsigned i = 0; i < n; i++)
        before[i] = cpu_get(i)->ticks;
    bool irq = arch_irq_save();
    sti(); /* the boot CPU's own timer needs interrupts on */
    pit_delay_us(500000);
    arch_irq_restore(irq);
    for (unsigned i = 0; i < n; i++) {
        uint64_t d = cpu_get(i)->ticks - before[i];
        if (d == 0)
            ktest_fail(__FILE__, __LINE__, "CPU %u took no LAPIC tick in 500 ms", i);
        KT_ASSERT(d > 0);
    }
}

/* ---- per-CPU data through GS is distinct -------------------------------- */

static struct cpu *seen_self[SMP_MAX_CPUS];
static uint32_t seen_apic[SMP_MAX_CPUS];
static volatile int seen_runs;

static void record_self(void *arg)
{
    struct cpu *c = this_cpu();
    if (c->index < SMP_MAX_CPUS) {
        seen_self[c->index] = c;
        seen_apic[c->index] = lapic_id();
    }
    __atomic_fetch_add(&seen_runs, 1, __ATOMIC_SEQ_CST);
}

KTEST(smp_percpu_gs_distinct)
{
    memset(seen_self, 0, sizeof(seen_self));
    seen_runs = 0;
    int ran = smp_call_all(record_self, NULL, CALL_MS);
    KT_ASSERT_EQ(ran, smp_online());
    KT_ASSERT_EQ(seen_runs, smp_online());
    for (unsigned i = 0; i < cpu_count(); i++) {
        struct cpu *c = cpu_get(i);
        KT_ASSERT(seen_self[i] == c);    /* GS points at this CPU's own struct */
        KT_ASSERT(c->self == c);
        KT_ASSERT_EQ(seen_apic[i], c->apic_id);
        for (unsigned j = 0; j < i; j++)
            KT_ASSERT(seen_apic[j] != seen_apic[i]);
    }
}

/* ---- an IPI reaches each CPU --------------------------------------------- */

KTEST(smp_ipi_each_cpu)
{
    for (unsigned i = 1; i < cpu_count(); i++) {
        struct cpu *c = cpu_get(i);
        uint64_t before = c->ipis;
        KT_ASSERT(smp_send_ipi(i));
        unsigned ms = 0;
        while (c->ipis == before && ms++ < 2000)
            pit_delay_us(1000);
        if (c->ipis == before)
            ktest_fail(__FILE__, __LINE__, "CPU %u never took its IPI", i);
        KT_ASSERT(c->ipis > before);
    }
    /* One's own index is refused: a CPU does not call itself this way. */
    KT_ASSERT(smp_call_one(0, record_self, NULL, 10) < 0);
}

/* ---- mutual exclusion: every CPU bumps one counter under one lock ------- */

/* Each CPU bumps for the same 200 ms window rather than a fixed count: the
 * loops overlap in time whatever the host does with the vCPU threads, and a
 * crowded host (every hand-off of a ticket lock may wait for the next
 * waiter's thread to be scheduled) costs bumps, not minutes. A CPU whose
 * thread the host did not run in the window still makes MIN_BUMPS, late. */
#define BUMP_MS 200
#define MIN_BUMPS 50
static spinlock_t counter_lock = SPINLOCK_INIT("smp_test_counter", LOCK_LEVEL_TEST);
static volatile uint64_t counter, total, in_section, deadline, tsc_per_ms;
static volatile int overlap;
static volatile unsigned arrived;

static uint64_t tsc(void) { return rdtsc_fenced(); }

static void bump(void *arg)
{
    /* The start line: the last CPU to arrive sets the common deadline. */
    unsigned n = smp_online();
    if (__atomic_add_fetch(&arrived, 1, __ATOMIC_SEQ_CST) == n)
        __atomic_store_n(&deadline, tsc() + BUMP_MS * tsc_per_ms, __ATOMIC_RELEASE);
    for (uint64_t spins = 0; !__atomic_load_n(&deadline, __ATOMIC_ACQUIRE) &&
                             spins < 4000000000ULL; spins++)
        cpu_relax();
    uint64_t mine = 0;
    while ((tsc() < deadline || mine < MIN_BUMPS) && mine < 10000000) {
        bool irq = spin_lock_irqsave(&counter_lock);
        if (__atomic_fetch_add(&in_section, 1, __ATOMIC_SEQ_CST) != 0)
            overlap = 1;
        uint64_t v = counter; /* a plain read-modify-write: only the lock */
        for (int i = 0; i < 20; i++) /* keeps it whole */
            cpu_relax();
        counter = v + 1;
        __atomic_fetch_sub(&in_section, 1, __ATOMIC_SEQ_CST);
        spin_unlock_irqrestore(&counter_lock, irq);
        mine++;
    }
    __atomic_fetch_add(&total, mine, __ATOMIC_SEQ_CST);
}

KTEST(smp_spinlock_counter_all_cpus)
{
    counter = total = in_section = deadline = 0;
    overlap = 0;
    arrived = 0;
    uint64_t t0 = tsc();
    pit_delay_us(10000);
    tsc_per_ms = MAX((tsc() - t0) / 10, 1ULL);
    int ran = smp_call_all(bump, NULL, 60000);
    KT_ASSERT_EQ(ran, smp_online());
    KT_ASSERT_EQ(overlap, 0);
    KT_ASSERT_EQ(counter, total);
    KT_ASSERT(counter >= (uint64_t)ran * MIN_BUMPS);
    KT_ASSERT(counter_lock.holder == -1);
    KT_ASSERT_EQ(counter_lock.next, counter_lock.owner);
}

/* ---- the lock checks ------------------------------------------------------ */

static spinlock_t test_lock = SPINLOCK_INIT("smp_test", LOCK_LEVEL_TEST);
static spinlock_t inner_lock = SPINLOCK_INIT("smp_test_inner", LOCK_LEVEL_TEST_INNER);

KTEST(smp_lock_catches_recursion)
{
    rep_begin();
    spin_lock(&test_lock);
    spin_lock(&test_lock); /* reported, and not taken a second time */
    int n = rep_count;
    spin_unlock(&test_lock);
    bool free_again = spin_trylock(&test_lock);
    if (free_again)
        spin_unlock(&test_lock);
    rep_end();
    KT_ASSERT_EQ(n, 1);
    KT_ASSERT(rep_says("recursive"));
    KT_ASSERT(free_again);
}

KTEST(smp_lock_catches_order)
{
    rep_begin();
    spin_lock(&inner_lock);
    spin_lock(&test_lock); /* an outer lock inside an inner one */
    int bad = rep_count;
    spin_unlock(&inner_lock);
    spin_lock(&test_lock); /* the right order: no report */
    spin_lock(&inner_lock);
    spin_unlock(&inner_lock);
    spin_unlock(&test_lock);
    int total = rep_count;
    rep_end();
    KT_ASSERT_EQ(bad, 1);
    KT_ASSERT_EQ(total, 1);
    KT_ASSERT(rep_says("order"));
}

static void lock_test_lock(void *arg) { spin_lock(&test_lock); }
static void unlock_test_lock(void *arg) { spin_unlock(&test_lock); }

/* Quiet: CPU 1 holds the lock between the two calls, in its idle loop; a
 * process switched in there meanwhile would run with it held, and its
 * locks and sleeps would be reported too. */
KTEST_FLAGS(smp_lock_catches_unlock_by_other_cpu, KTEST_QUIET)
{
    rep_begin();
    if (cpu_count() < 2 || cpu_get(1)->state != CPU_ONLINE) {
        spin_unlock(&test_lock); /* one CPU: an unlock of a free lock instead */
        rep_end();
        KT_ASSERT(rep_says("nobody holds"));
        return;
    }
    /* CPU 1 takes the lock (the call lock is outermost, so the holder is
     * the AP, not us), then we try to release it. */
    int err = smp_call_one(1, lock_test_lock, NULL, CALL_MS);
    int held_by = test_lock.holder;
    spin_unlock(&test_lock);
    int n = rep_count, who = rep_cpu, other = rep_other;
    bool left_alone = test_lock.holder == 1;
    int err2 = smp_call_one(1, unlock_test_lock, NULL, CALL_MS);
    int total = rep_count;
    rep_end();
    KT_ASSERT_EQ(err, 0);
    KT_ASSERT_EQ(err2, 0);
    KT_ASSERT_EQ(held_by, 1);
    KT_ASSERT_EQ(n, 1);
    KT_ASSERT(rep_says("does not hold"));
    KT_ASSERT_EQ(who, 0);   /* reported on the CPU that tried */
    KT_ASSERT_EQ(other, 1); /* naming the holder */
    KT_ASSERT(left_alone);  /* and the lock was left alone */
    KT_ASSERT_EQ(total, 1); /* the holder's own unlock is fine */
    KT_ASSERT(test_lock.holder == -1);
}

static volatile int held_by_ap, reported_flag;

static void hold_then_wait(void *arg)
{
    if (this_cpu()->index == 1) {
        spin_lock(&test_lock);
        __atomic_store_n(&held_by_ap, 1, __ATOMIC_RELEASE);
        wait_flag(&reported_flag, CALL_MS);
        spin_unlock(&test_lock);
    } else if (this_cpu()->index == 0) {
        if (!wait_flag(&held_by_ap, CALL_MS))
            return;
        uint64_t saved = spin_limit;
        spin_limit = 20000;
        spin_lock(&test_lock); /* reports once, then waits its turn */
        spin_limit = saved;
        spin_unlock(&test_lock);
    }
}

static void flag_on_report(const spinlock_t *l, const char *what, int other)
{
    record(l, what, other);
    __atomic_store_n(&reported_flag, 1, __ATOMIC_RELEASE);
}

/* (Quiet: with the spin limit lowered, any other CPU waiting on any lock
 * meanwhile, e.g. the scheduler's, would report too.) */
KTEST_FLAGS(smp_lock_catches_held_too_long, KTEST_QUIET)
{
    if (cpu_count() < 2 || cpu_get(1)->state != CPU_ONLINE) {
        /* One CPU: the waiter would be the holder; check the bound alone. */
        KT_ASSERT(spin_limit > 1000000);
        return;
    }
    rep_begin();
    held_by_ap = reported_flag = 0;
    spin_report = flag_on_report;
    int ran = smp_call_all(hold_then_wait, NULL, 2 * CALL_MS);
    int n = rep_count, who = rep_cpu, other = rep_other;
    rep_end();
    KT_ASSERT(ran > 0);
    KT_ASSERT_EQ(n, 1);
    KT_ASSERT(rep_says("held too long"));
    KT_ASSERT_EQ(who, 0);
    KT_ASSERT_EQ(other, 1); /* the report names the holder */
    KT_ASSERT(test_lock.holder == -1);
}

KTEST(smp_lock_held_across_sleep_is_caught)
{
    rep_begin();
    spin_assert_none_held("sleep"); /* nothing held: silent */
    int before = rep_count;
    spin_lock(&test_lock);
    spin_assert_none_held("sleep with a spinlock held");
    spin_unlock(&test_lock);
    int after = rep_count;
    rep_end();
    KT_ASSERT_EQ(before, 0);
    KT_ASSERT_EQ(after, 1);
}
