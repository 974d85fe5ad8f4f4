/*
 * The stress soak: `soak=SECONDS` on the command line runs every in-kernel
 * test whose name starts with smp_ (all of them, whoever wrote them: the
 * ktest table is walked by prefix), round after round on all CPUs, until
 * the time is up, with user processes running on every CPU meanwhile. Then
 * it prints "soak: N rounds, T s, F failures" and leaves the emulator like
 * the test runner (status 33 when nothing failed).
 *
 * What runs meanwhile: a `spin` on each AP (at most PROC_MAX - 3), so that
 * every cross-CPU call of a test has to take an AP away from user code, and
 * a `cow`, started again whenever it has finished, whose fork, copy-on-write
 * faults, wait and exit go on between the tests, on whichever CPUs it runs
 * on (its own checks, its child's included, end up in its exit status: a
 * bad one fails the soak). The tests count every free frame and every heap
 * counter, so each (but a KTEST_QUIET one, which has the machine to
 * itself) runs in a serialised section (sched.c): meanwhile the
 * processes' user code runs on every CPU, and their kernel work waits for
 * the boot CPU. Without those programs as boot modules the soak runs the
 * tests alone (and says so).
 *
 * Tests opt out with flags (<pagoda/ktest.h>): KTEST_ONCE tests check the
 * state of a fresh boot and are left out; KTEST_QUIET tests need the
 * process table to themselves, or no lock traffic from other CPUs (a test
 * that lowers the global spin limit), so the background processes are
 * stopped around them (spinners killed, cow let finish) and started again
 * after.
 *
 * Checks beyond the tests' own: a panic anywhere ends the soak with the
 * failure status (kernel_exit_on_panic); after the last round, with the
 * background processes gone, the PMM must have every frame it had before
 * the first. The time comes from arch_clock_ms (the TSC: real time under
 * QEMU, emulated time in Bochs), not from counting timer ticks, which a
 * loaded host may drop.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <arch/user.h>
#include <pagoda/kernel.h>
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>
#include <pagoda/slab.h>
#include <pagoda/smp.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>

#include "proc.h"
#include "soak.h"

#define SOAK_PREFIX "smp_"
#define SOAK_MAX_SPIN (PROC_MAX - 3) /* leaves room for cow and its child */

static int spin_pids[SOAK_MAX_SPIN], nspin, cow_pid;
static uint64_t cow_runs, cow_bad;

static void yield(void)
{
    bool irq = arch_irq_save();
    schedule();
    arch_irq_restore(irq);
}

static void background_start(void)
{
    char *spin_argv[1] = {"spin"}, *cow_argv[1] = {"cow"};
    unsigned want = smp_online() - 1;
    if (want > SOAK_MAX_SPIN)
        want = SOAK_MAX_SPIN;
    nspin = 0;
    if (proc_module_lookup("spin"))
        for (unsigned i = 0; i < want; i++) {
            struct proc *p = proc_spawn("spin", 1, spin_argv);
            if (p)
                spin_pids[nspin++] = p->pid;
        }
    cow_pid = 0;
    if (proc_module_lookup("cow")) {
        struct proc *p = proc_spawn("cow", 1, cow_argv);
        cow_pid = p ? p->pid : 0;
    }
}

/* Reap cow if it has finished (counting a bad end), and start it again. */
static void background_cow(void)
{
    struct proc *c = cow_pid ? proc_find(cow_pid) : NULL;
    if (!c || c->state != P_ZOMBIE)
        return;
    int st = -1;
    char rep[200];
    proc_wait_for(cow_pid, &st, rep, sizeof(rep)); /* (a zombie: at once) */
    cow_runs++;
    if (st != 0) {
        cow_bad++;
        printk("soak: cow ended with status %d %s\n", st, rep);
    }
    char *argv[1] = {"cow"};
    struct proc *p = proc_spawn("cow", 1, argv);
    cow_pid = p ? p->pid : 0;
}

static void kill_reap(int pid)
{
    int st;
    char rep[200];
    if (proc_kill(pid) == 0)
        proc_wait_for(pid, &st, rep, sizeof(rep));
}

/* Stop the background: the spinners are killed; cow is let finish (a kill
 * would orphan its child mid-check, and the child would then see its
 * shared pages turn private), and its status counts like any other run. */
static void background_stop(void)
{
    for (int i = 0; i < nspin; i++)
        kill_reap(spin_pids[i]);
    nspin = 0;
    if (cow_pid) {
        int st = -1;
        char rep[200];
        if (proc_wait_for(cow_pid, &st, rep, sizeof(rep)) == 0) {
            cow_runs++;
            if (st != 0) {
                cow_bad++;
                printk("soak: cow ended with status %d %s\n", st, rep);
            }
        }
        cow_pid = 0;
    }
}

static void drain_cpu(void *arg)
{
    UNUSED(arg);
    kheap_mag_drain();
}

/* Frames that are neither free nor the heap's: a leak moves this figure.
 * Every CPU's magazines are drained first and empty slabs given back; the
 * pages the heap holds count with the free ones, since how much
 * idle memory its release policy keeps differs from one round to the next. */
static uint64_t settled_free_frames(void)
{
    smp_call_all(drain_cpu, NULL, 10000);
    kmem_cache_reap_all();
    kheap_release(true); /* (and the page tables of what it gives back) */
    static struct kheap_stats st; /* static: the frame bound */
    kheap_stats(&st);
    return proc_free_frames() + st.heap_pages;
}

void soak_run_and_exit(unsigned seconds)
{
    kernel_exit_on_panic = true;
    arch_user_timer_start(); /* the PIT: our clock, and user preemption */
    bool procs = proc_module_lookup("spin") && proc_module_lookup("cow");
    unsigned ntests = 0, skipped = 0;
    for (const struct ktest *t = ktest_first(); t < ktest_last(); t++) {
        if (strncmp(t->name, SOAK_PREFIX, strlen(SOAK_PREFIX)) != 0)
            continue;
        if (t->flags & KTEST_ONCE)
            skipped++;
        else
            ntests++;
    }
    printk("soak: %u s on %u CPU%s: %u %s tests each round (%u left out as once-only), %s\n",
           seconds, smp_online(), smp_online() == 1 ? "" : "s", ntests, SOAK_PREFIX, skipped,
           procs ? "with spin and cow running meanwhile" : "no user programs to run meanwhile");
    uint64_t free0 = settled_free_frames();
    uint64_t t0 = arch_clock_ms(), limit = (uint64_t)seconds * 1000;
    unsigned rounds = 0, failures = 0, runs = 0;
    static char why[256];
    static uint64_t spent[256]; /* ms per test, by its place in the table */
    background_start();
    while (arch_clock_ms() - t0 < limit || rounds == 0) {
        for (const struct ktest *t = ktest_first(); t < ktest_last(); t++) {
            if (strncmp(t->name, SOAK_PREFIX, strlen(SOAK_PREFIX)) != 0 || (t->flags & KTEST_ONCE))
                continue;
            bool quiet = t->flags & KTEST_QUIET;
            if (quiet)
                background_stop();
            uint64_t t1 = arch_clock_ms();
            /* The tests count every frame: the processes' kernel work
             * waits meanwhile (a quiet test has no processes beside it, and
             * may start its own on every CPU). */
            if (!quiet)
                sched_kernel_serialise_begin();
            bool ok = ktest_run_one(t, why, sizeof(why));
            if (!quiet)
                sched_kernel_serialise_end();
            size_t at = (size_t)(t - ktest_first());
            if (at < ARRAY_SIZE(spent))
                spent[at] += arch_clock_ms() - t1;
            runs++;
            if (!ok) {
                failures++;
                printk("soak: round %u: FAIL %s: %s\n", rounds + 1, t->name, why);
            }
            if (quiet)
                background_start();
            background_cow();
            yield(); /* kernel work that waited for the boot CPU during the test */
        }
        rounds++;
        printk("soak: round %u done at %llu s\n", rounds,
               (unsigned long long)((arch_clock_ms() - t0) / 1000));
    }
    uint64_t secs = (arch_clock_ms() - t0) / 1000;
    background_stop();
    uint64_t free1 = settled_free_frames();
    if (free1 != free0) {
        failures++;
        printk("soak: FAIL: %llu free frames before, %llu after\n", (unsigned long long)free0,
               (unsigned long long)free1);
    }
    if (cow_bad)
        failures++;
    for (const struct ktest *t = ktest_first(); t < ktest_last(); t++) {
        size_t at = (size_t)(t - ktest_first());
        if (at < ARRAY_SIZE(spent) && spent[at])
            printk("soak:   %-44s %6llu ms a run\n", t->name,
                   (unsigned long long)(spent[at] / rounds));
    }
    printk("soak: %u test runs, cow ran %llu times (%llu bad)\n", runs,
           (unsigned long long)cow_runs, (unsigned long long)cow_bad);
    printk("soak: %u rounds, %llu s, %u failures\n", rounds, (unsigned long long)secs, failures);
    arch_emulator_exit(failures == 0);
}
