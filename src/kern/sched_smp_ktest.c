/*
 * In-kernel SMP tests of the scheduler (prefix smp_): user processes on
 * every CPU, never one process on two CPUs at once, and fork, wait, exit
 * and kill with parent and child on different CPUs. They need the `spin`
 * and `cow` programs as boot modules; without them they say "skipped" (the
 * boot tests that carry the modules reject that word).
 *
 * The kernel thread waits here by yielding: it stays runnable, so the boot
 * CPU shares its time between it and the processes, and it wakes at least
 * once a tick to look at the table.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <arch/user.h>
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/spinlock.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>

#include "proc.h"

#define WAIT_TICKS (20 * ARCH_TICK_HZ) /* (Bochs under load is slow) */

static bool have(const char *prog)
{
    if (proc_module_lookup(prog))
        return true;
    printk("  (skipped: no user program %s on this boot)\n", prog);
    return false;
}

/* Let the processes run for one round of the boot CPU. */
static void yield(void)
{
    bool irq = arch_irq_save();
    schedule();
    arch_irq_restore(irq);
}

/* Under the lock: does any process run on two CPUs, or a CPU's process
 * not know it runs? (Counted, not asserted, so the test goes on to clean
 * up.) */
static unsigned bad_samples(void)
{
    bool irq = spin_lock_irqsave(&sched_lock);
    unsigned bad = 0;
    for (unsigned i = 0; i < cpu_count(); i++) {
        const struct proc *p = cpu_get(i)->proc;
        if (!p)
            continue;
        bad += !p->on_cpu || p->cpu != (int)i;
        for (unsigned k = 0; k < i; k++)
            bad += cpu_get(k)->proc == p;
    }
    spin_unlock_irqrestore(&sched_lock, irq);
    return bad;
}

static uint32_t online_mask(void)
{
    uint32_t m = 0;
    for (unsigned i = 0; i < cpu_count(); i++)
        if (cpu_get(i)->state == CPU_ONLINE)
            m |= 1u << i;
    return m;
}

/* Kill pid and wait for it: its status, or -1000. */
static int kill_and_reap(int pid)
{
    char rep[200];
    int st = -1000;
    if (proc_kill(pid) != 0 || proc_wait_for(pid, &st, rep, sizeof(rep)) != 0)
        return -1000;
    return st;
}

/* Start n spinners (`spin sys` with sys); their pids go to pids. How many
 * started. */
static unsigned spawn_spinners(unsigned n, int *pids, bool sys)
{
    char *argv[2] = {"spin", "sys"};
    unsigned started = 0;
    for (; started < n; started++) {
        struct proc *p = proc_spawn("spin", sys ? 2 : 1, argv);
        if (!p)
            break;
        pids[started] = p->pid;
    }
    return started;
}

/* One process per online CPU, as many as the table has room for: how many,
 * and the CPUs they should reach (*want). */
static unsigned one_per_cpu(uint32_t *want)
{
    unsigned n = smp_online();
    if (n > PROC_MAX - 1)
        n = PROC_MAX - 1;
    *want = online_mask() & ((1u << (PROC_MAX - 1)) - 1);
    return n;
}

KTEST_FLAGS(smp_procs_run_on_every_cpu, KTEST_QUIET)
{
    if (!have("spin"))
        return;
    uint64_t free0 = proc_free_frames();
    uint32_t want, ran = 0;
    unsigned n = one_per_cpu(&want);
    /* As many spinners as CPUs: none of them ever blocks, so each CPU keeps
     * one once they have spread (the boot CPU shares its own with us). */
    int pids[PROC_MAX];
    unsigned started = spawn_spinners(n, pids, false);
    unsigned bad = 0;
    uint64_t t0 = arch_ticks();
    while (started == n && (ran & want) != want && arch_ticks() - t0 < WAIT_TICKS) {
        yield();
        bad += bad_samples();
        ran = 0;
        for (unsigned i = 0; i < started; i++) {
            struct proc *p = proc_find(pids[i]);
            ran |= p ? p->ran_on : 0;
        }
    }
    int killed = 0;
    for (unsigned i = 0; i < started; i++)
        killed += kill_and_reap(pids[i]) == EXIT_KILLED;
    printk("  (%u spinners on %u CPUs: ran on CPUs 0x%x of 0x%x in %llu ticks)\n", started,
           smp_online(), ran, want, (unsigned long long)(arch_ticks() - t0));
    KT_ASSERT_EQ(started, n);
    KT_ASSERT_EQ(ran & want, want);
    KT_ASSERT_EQ(bad, 0);
    KT_ASSERT_EQ(killed, (int)started);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST_FLAGS(smp_procs_fork_wait_kill_across_cpus, KTEST_QUIET)
{
    if (!have("spin") || !have("cow"))
        return;
    uint64_t free0 = proc_free_frames();
    /* Spinners keep the APs busy so that cow's parent and child, which
     * spread after their first tick, land where there is room; cow checks
     * its own copy-on-write results and its child's exit status. Three
     * cows at once (six processes with their children) beside two
     * spinners: the table has room for eight. */
    char *spin_argv[1] = {"spin"}, *cow_argv[1] = {"cow"};
    struct proc *s1 = proc_spawn("spin", 1, spin_argv), *s2 = proc_spawn("spin", 1, spin_argv);
    int sp1 = s1 ? s1->pid : -1, sp2 = s2 ? s2->pid : -1;
    int cows[3], ncow = 0;
    for (int i = 0; i < 3; i++) {
        struct proc *c = proc_spawn("cow", 1, cow_argv);
        if (c)
            cows[ncow++] = c->pid;
    }
    int ok = 0;
    char rep[200];
    for (int i = 0; i < ncow; i++) {
        int st = -1000;
        ok += proc_wait_for(cows[i], &st, rep, sizeof(rep)) == 0 && st == 0;
    }
    /* The spinners run on some CPU now (an AP, with more than one): the
     * kill reaches them there and they die on the boot CPU. */
    uint32_t where = (s1 ? s1->ran_on : 0) | (s2 ? s2->ran_on : 0);
    int k1 = sp1 > 0 ? kill_and_reap(sp1) : -1, k2 = sp2 > 0 ? kill_and_reap(sp2) : -1;
    printk("  (%d of 3 cows ok; the spinners ran on CPUs 0x%x)\n", ok, where);
    KT_ASSERT(s1 && s2);
    KT_ASSERT_EQ(ncow, 3);
    KT_ASSERT_EQ(ok, 3);
    KT_ASSERT_EQ(k1, EXIT_KILLED);
    KT_ASSERT_EQ(k2, EXIT_KILLED);
    KT_ASSERT_EQ(bad_samples(), 0);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

/* A CPU whose process has nobody waiting for its place takes no lock on its
 * ticks: one spinner per AP, and only the boot CPU has others (the kernel
 * thread) to share with. The spinners leave the boot CPU within a few ticks
 * of their first slice (an idle AP is woken for a preempted one). */
KTEST_FLAGS(smp_tick_alone_takes_no_lock, KTEST_QUIET)
{
    if (!have("spin"))
        return;
    unsigned n = smp_online() - 1; /* one per AP */
    if (n > PROC_MAX - 1)
        n = PROC_MAX - 1;
    if (n == 0) {
        printk("  (one CPU: no AP to look at)\n");
        return;
    }
    /* Other processes would wait for the APs' places, and a tick with
     * someone waiting must take the lock: nothing to measure. */
    unsigned others = 0;
    for (int i = 1; i < PROC_MAX; i++)
        others += __atomic_load_n(&proc_table[i].state, __ATOMIC_RELAXED) != P_FREE;
    if (others) {
        printk("  (%u other processes share the CPUs: no AP is alone)\n", others);
        return;
    }
    uint64_t free0 = proc_free_frames();
    int pids[PROC_MAX];
    unsigned started = spawn_spinners(n, pids, false);
    /* Wait until APs 1..n each run a spinner that has left the boot CPU. */
    unsigned spread = 0;
    uint64_t t0 = arch_ticks();
    while (started == n && spread < n && arch_ticks() - t0 < WAIT_TICKS) {
        yield();
        spread = 0;
        for (unsigned i = 1; i <= n; i++) {
            const struct proc *p = __atomic_load_n(&cpu_get(i)->proc, __ATOMIC_RELAXED);
            spread += p && p->pid > 0 && !p->boot_only;
        }
    }
    uint64_t took = arch_ticks() - t0;
    uint64_t ticks0 = 0, locks0 = 0, ticks1 = 0, locks1 = 0;
    for (unsigned i = 1; i <= n; i++) {
        ticks0 += __atomic_load_n(&cpu_get(i)->user_ticks, __ATOMIC_RELAXED);
        locks0 += __atomic_load_n(&cpu_get(i)->tick_locks, __ATOMIC_RELAXED);
    }
    for (uint64_t t1 = arch_ticks(); arch_ticks() - t1 < 30;)
        yield();
    for (unsigned i = 1; i <= n; i++) {
        ticks1 += __atomic_load_n(&cpu_get(i)->user_ticks, __ATOMIC_RELAXED);
        locks1 += __atomic_load_n(&cpu_get(i)->tick_locks, __ATOMIC_RELAXED);
    }
    int killed = 0;
    for (unsigned i = 0; i < started; i++)
        killed += kill_and_reap(pids[i]) == EXIT_KILLED;
    printk("  (%u of %u APs took a spinner in %llu ticks; then %llu ticks in user mode, "
           "%llu took the lock)\n",
           spread, n, (unsigned long long)took, (unsigned long long)(ticks1 - ticks0),
           (unsigned long long)(locks1 - locks0));
    KT_ASSERT_EQ(started, n);
    KT_ASSERT_EQ(spread, n);
    KT_ASSERT(took <= 100 + 10 * n); /* (a few ticks when quiet; a loaded host coalesces ticks) */
    KT_ASSERT(ticks1 - ticks0 >= n * 10);
    KT_ASSERT((locks1 - locks0) * 4 <= ticks1 - ticks0);
    KT_ASSERT_EQ(killed, (int)started);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

/* Processes' kernel work runs on every CPU at once: one `spin sys` per CPU
 * (map, fault, unmap, getpid, round after round) until each CPU has begun
 * some of it, or a serialised section keeps it all on the boot CPU. Then
 * every frame comes back and the heap and the PMM check clean. */
/* The CPUs where the kernel work of processes pids[0..n) began; with
 * clear, start counting afresh. */
static uint32_t kernel_began_on(const int *pids, unsigned n, bool clear)
{
    uint32_t on = 0;
    for (unsigned i = 0; i < n; i++) {
        struct proc *p = proc_find(pids[i]);
        if (!p)
            continue;
        on |= clear ? __atomic_exchange_n(&p->kernel_on, 0, __ATOMIC_RELAXED)
                    : __atomic_load_n(&p->kernel_on, __ATOMIC_RELAXED);
    }
    return on;
}

static bool kernel_work_spread(const int *pids, unsigned n, uint32_t want, uint32_t *seen)
{
    uint64_t t0 = arch_ticks();
    *seen = 0;
    while ((*seen & want) != want && arch_ticks() - t0 < WAIT_TICKS) {
        yield();
        *seen = kernel_began_on(pids, n, false);
    }
    return (*seen & want) == want;
}

KTEST_FLAGS(smp_procs_kernel_work_on_every_cpu, KTEST_QUIET)
{
    if (!have("spin"))
        return;
    uint64_t free0 = proc_free_frames();
    uint32_t want, seen = 0;
    unsigned n = one_per_cpu(&want);
    int pids[PROC_MAX];
    unsigned started = spawn_spinners(n, pids, true);
    bool spread = started == n && kernel_work_spread(pids, started, want, &seen);
    /* Now serialised: each process's next kernel entry moves it to the
     * boot CPU, so no AP begins any until the section ends. */
    sched_kernel_serialise_begin();
    kernel_began_on(pids, started, true);
    for (uint64_t t1 = arch_ticks(); arch_ticks() - t1 < 20;)
        yield();
    uint32_t during = kernel_began_on(pids, started, false);
    sched_kernel_serialise_end();
    int killed = 0;
    for (unsigned i = 0; i < started; i++)
        killed += kill_and_reap(pids[i]) == EXIT_KILLED;
    printk("  (%u processes: kernel work began on CPUs 0x%x of 0x%x; serialised: 0x%x)\n",
           started, seen, want, during);
    KT_ASSERT_EQ(started, n);
    KT_ASSERT(spread);
    KT_ASSERT_EQ(during & ~1u, 0u);
    KT_ASSERT_EQ(killed, (int)started);
    KT_ASSERT_EQ(bad_samples(), 0);
    KT_ASSERT_EQ(proc_free_frames(), free0);
    KT_ASSERT_EQ(kheap_check(), 0);
}

/* A thread that sleeps (schedule) while it holds a spinlock is caught
 * there: whoever wants the lock next would spin until it runs again. The
 * lock checks' report is recorded instead of panicking. */
static spinlock_t sleep_lock = SPINLOCK_INIT("smp_sleep_test", LOCK_LEVEL_TEST);
static const char *volatile sleep_report;
static volatile int sleep_reports;

static void record_sleep(const spinlock_t *l, const char *what, int other)
{
    UNUSED(other);
    if (l == &sleep_lock)
        sleep_report = what;
    __atomic_fetch_add(&sleep_reports, 1, __ATOMIC_SEQ_CST);
}

KTEST_FLAGS(smp_sleep_with_a_spinlock_held_is_caught, KTEST_QUIET)
{
    sleep_report = NULL;
    sleep_reports = 0;
    spin_report = record_sleep;
    yield(); /* nothing held: silent */
    int before = sleep_reports;
    spin_lock(&sleep_lock);
    yield();
    spin_unlock(&sleep_lock);
    spin_report = spin_report_panic;
    KT_ASSERT_EQ(before, 0);
    KT_ASSERT(sleep_reports >= 1);
    KT_ASSERT(sleep_report != NULL && strcmp(sleep_report, SCHED_SLEEP_WITH_LOCK) == 0);
}
