/*
 * The scheduler: preemptive round-robin over the process table, on every CPU.
 *
 * Theory of operation. Every thread has a kernel stack: the kernel thread in
 * slot 0 (kmain and the monitor), each process, and one idle thread per CPU
 * (an AP's idle thread is the context it came up on; the boot CPU's is made
 * here). A switch saves the callee-saved registers and the stack pointer of
 * one thread and loads the other's (arch_switch). schedule() picks the next
 * runnable slot after the current one, in table order, so that every
 * runnable thread gets a turn, and switches to this CPU's idle thread when
 * nothing can run here. The timer calls it on every tick that interrupts
 * user code (sched_tick: the PIT on the boot CPU, the LAPIC timer on the
 * others), and threads call it when they block (wait, stop, exit) or yield.
 * The idle thread runs smp_idle: it serves cross-CPU calls, asks
 * sched_idle_work for a thread, or halts until an interrupt.
 *
 * SMP. One lock, sched_lock (LOCK_LEVEL_SCHED), guards the table's states,
 * every proc's on_cpu/cpu/boot_only, and each CPU's cpu->proc. It is always
 * taken with interrupts off (the tick takes it), and it is held across
 * arch_switch: the CPU that switches out of a thread keeps the lock until the
 * thread it switched to releases it (at the end of schedule_locked, or in
 * sched_first_return for a thread's first run). So no CPU can pick a thread
 * whose registers are still being saved, nor free the slot of a thread that
 * is still on its kernel stack: a thread is on_cpu from the moment a CPU
 * picks it until the next thread on that CPU has finished switching (then
 * finish_switch clears it). A process therefore never runs on two CPUs, and
 * wait, exit and kill see one consistent table wherever parent and child
 * run. Each switch also makes the next thread's space live on this CPU
 * (arch_user_activate, through arch_mmu_activate) and points this CPU's
 * TSS.RSP0 at its kernel stack.
 *
 * Kernel work runs where the process is. A process that enters the kernel
 * (a system call, a page fault, any exception, a pending kill) marks itself
 * in_kernel and does the work on its CPU, since the allocators and the VMM
 * are SMP-safe; when it blocks there (a wait), any CPU may take it up again.
 * The kernel thread runs on the boot CPU only (the monitor's recovery points
 * belong to it). A new process starts on the boot CPU, where it was made,
 * and may move once a tick has preempted it: a short program runs where its
 * parent waits, and a program that needs the CPU spreads after its first
 * slice.
 *
 * Serialised kernel work. Code that needs the kernel quiet around it (the
 * soak runs tests that count every free frame while user processes run)
 * brackets itself with sched_kernel_serialise_begin/end. While one is open,
 * processes' kernel work runs on the boot CPU alone, as it all did before
 * the allocators were SMP-safe: an entry on an AP moves the process there
 * first (boot_only, an IPI, a switch), and no AP picks a process that is
 * in_kernel. Kernel code is never preempted, so that work waits while the
 * boot CPU's kernel thread does its own. _begin waits until no process is
 * in kernel work on an AP any more (each either goes back to user mode,
 * blocks, or moves to the boot CPU). The entry stores in_kernel and then
 * reads the gate, _begin stores the gate and then reads every in_kernel,
 * each with a full fence between: one of the two sees the other.
 *
 * Ticks. A tick takes the lock only when it has something to do: its
 * process is new, killed, or no longer running, a cross-CPU call waits, the
 * monitor's Ctrl-C look is due, or another thread waits for a CPU (all read
 * without the lock first). A process alone on its CPU therefore runs on
 * without touching the lock; that matters when the host preempts a guest's
 * virtual CPUs, where a ticket lock taken by every CPU on every tick left
 * user code almost no time. A preempted thread that may run elsewhere wakes
 * one idle CPU with an IPI, so it does not wait for that CPU's next look.
 *
 * Cost: O(PROC_MAX) per decision, under one lock; a serialised section
 * costs each process that enters the kernel on an AP meanwhile two
 * switches. Weaknesses: no priorities, no affinity; a thread made runnable
 * by a wake-up (a wait that ends) waits for some CPU's next look.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/monitor.h>
#include <arch/user.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/spinlock.h>

#include "proc.h"

/* Open serialised sections (sched_kernel_serialise_begin): kernel work on
 * the boot CPU only while this is not 0. */
static unsigned kernel_serialised;

spinlock_t sched_lock = SPINLOCK_INIT("sched", LOCK_LEVEL_SCHED);
static struct proc idle_threads[SMP_MAX_CPUS];
/* Per CPU: the thread it switched away from (for finish_switch), and where
 * its round-robin scan left off. */
static struct proc *prev_of[SMP_MAX_CPUS];
static int rotor[SMP_MAX_CPUS];
static uint64_t last_poll; /* arch_ticks() of the monitor's last Ctrl-C look */

static bool is_idle(const struct proc *p)
{
    return p >= idle_threads && p < idle_threads + SMP_MAX_CPUS;
}

bool sched_is_idle_thread(const struct proc *p)
{
    return is_idle(p);
}

static bool serialised(void)
{
    return __atomic_load_n(&kernel_serialised, __ATOMIC_SEQ_CST) != 0;
}

static bool may_run_here(const struct proc *p, const struct cpu *c)
{
    return c->index == 0 ||
           (!p->boot_only && p != &proc_table[0] &&
            !(__atomic_load_n(&p->in_kernel, __ATOMIC_RELAXED) && serialised()));
}

/* The next thread for CPU c (lock held): a runnable slot after the rotor,
 * cur if it may go on, or the idle thread. A pending cross-CPU call sends
 * the CPU to its idle thread, which serves it. */
static struct proc *pick(struct cpu *c, struct proc *cur)
{
    struct proc *idle = &idle_threads[c->index];
    if (smp_call_pending(c))
        return idle;
    int at = is_idle(cur) ? rotor[c->index] : (int)(cur - proc_table);
    for (int n = 1; n <= PROC_MAX; n++) {
        int i = (at + n) % PROC_MAX;
        struct proc *p = &proc_table[i];
        if (p->state == P_RUNNABLE && (p == cur || !p->on_cpu) && may_run_here(p, c)) {
            rotor[c->index] = i;
            return p;
        }
    }
    return idle;
}

/* cur was preempted on CPU c and waits, runnable, for any CPU: wake one
 * that idles (lock held). Without this an idle CPU looks only on its own
 * ticks, and a thread that its CPU takes back within a moment (a kernel
 * thread that yields at once) is almost never runnable when it looks: a
 * spinner then shared the boot CPU for seconds beside an idle AP. */
static void kick_idle_cpu(const struct cpu *c, const struct proc *cur)
{
    if (cur->state != P_RUNNABLE || is_idle(cur))
        return;
    for (unsigned i = 0; i < cpu_count(); i++) {
        struct cpu *o = cpu_get(i);
        if (o != c && o->proc && is_idle(o->proc) && may_run_here(cur, o) &&
            smp_send_ipi(i))
            return;
    }
}

/* The first thing a thread does after a switch (lock held): the previous
 * thread on this CPU is off its stack now. */
static void finish_switch(void)
{
    struct cpu *c = this_cpu();
    struct proc *prev = prev_of[c->index];
    prev_of[c->index] = NULL;
    if (!prev)
        return;
    prev->on_cpu = false;
    if (prev->state == P_DEAD)
        prev->state = P_FREE;
}

void sched_first_return(void)
{
    finish_switch();
    spin_unlock(&sched_lock);
}

/* Switch this CPU to the next thread (lock held on entry and on return,
 * interrupts off). The caller has set cur's state; P_RUNNING stays
 * runnable. */
void schedule_locked(void)
{
    struct cpu *c = this_cpu();
    struct proc *cur = c->proc, *next;
    if (cur->state == P_RUNNING)
        cur->state = P_RUNNABLE;
    next = pick(c, cur);
    if (next == cur) {
        cur->state = P_RUNNING;
        return;
    }
    next->state = P_RUNNING;
    next->on_cpu = true;
    next->cpu = (int)c->index;
    next->ran_on |= 1u << c->index;
    c->proc = next;
    c->switches++;
    prev_of[c->index] = cur;
    kick_idle_cpu(c, cur);
    arch_user_activate(next->has_as ? next->as.mmu : NULL);
    if (next->kstack_top)
        arch_set_kernel_stack(next->kstack_top);
    arch_switch(&cur->ctx, next->ctx);
    /* cur runs again here, switched back in by some CPU's schedule(): not
     * necessarily this one (c is stale now). */
    finish_switch();
}

/* A process entering the kernel (see the theory above). Interrupts off; no
 * lock held. */
void sched_kernel_enter(struct proc *p)
{
    __atomic_store_n(&p->in_kernel, true, __ATOMIC_SEQ_CST);
    if (this_cpu()->index == 0 || !serialised()) {
        __atomic_or_fetch(&p->kernel_on, 1u << this_cpu()->index, __ATOMIC_RELAXED);
        return;
    }
    spin_lock(&sched_lock);
    p->boot_only = true; /* (an AP never picks it now) */
    if (p->state == P_RUNNING)
        p->state = P_RUNNABLE; /* (before the IPI: the boot CPU's idle look sees it) */
    /* Wake the boot CPU (from hlt, or from user code: sched_call_kick); it
     * takes the lock once our switch below has saved us. */
    smp_send_ipi(0);
    schedule_locked();
    spin_unlock(&sched_lock);
    if (this_cpu()->index != 0)
        panic("sched: pid %d came back on CPU %u, not the boot CPU", p->pid,
              this_cpu()->index);
    __atomic_or_fetch(&p->kernel_on, 1u, __ATOMIC_RELAXED);
}

/* Back to user mode: the process may run on any CPU again. */
void sched_user_return(struct proc *p)
{
    __atomic_store_n(&p->in_kernel, false, __ATOMIC_RELEASE);
    if (!p->boot_only)
        return;
    bool irq = spin_lock_irqsave(&sched_lock);
    p->boot_only = false;
    spin_unlock_irqrestore(&sched_lock, irq);
}

/* A process doing kernel work on an AP now (lock held). */
static bool kernel_work_on_an_ap(void)
{
    for (int i = 1; i < PROC_MAX; i++) {
        const struct proc *p = &proc_table[i];
        if (__atomic_load_n(&p->in_kernel, __ATOMIC_SEQ_CST) && p->on_cpu && p->cpu != 0 &&
            p->state == P_RUNNING)
            return true;
    }
    return false;
}

void sched_kernel_serialise_begin(void)
{
    if (this_cpu()->index != 0)
        panic("sched_kernel_serialise_begin on CPU %u: the boot CPU's kernel thread only",
              this_cpu()->index);
    __atomic_add_fetch(&kernel_serialised, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        bool irq = spin_lock_irqsave(&sched_lock);
        bool busy = kernel_work_on_an_ap();
        spin_unlock_irqrestore(&sched_lock, irq);
        if (!busy)
            return;
        /* Let the boot CPU take up what moves to it meanwhile (a kill on an
         * AP ends its process here). */
        irq = arch_irq_save();
        schedule();
        arch_irq_restore(irq);
    }
}

void sched_kernel_serialise_end(void)
{
    if (__atomic_sub_fetch(&kernel_serialised, 1, __ATOMIC_SEQ_CST) == (unsigned)-1)
        panic("sched_kernel_serialise_end without a _begin");
}

/* After a switch back into cur: a kill that reached it while it ran on a
 * CPU ends it now. */
static void after_switch(struct proc *cur)
{
    if (cur->kill_pending && cur->has_as && !is_idle(cur)) {
        sched_kernel_enter(cur);
        cur->kill_pending = false;
        char report[200];
        ksnprintf(report, sizeof(report), "killed: pid %d (%s): %s", cur->pid, cur->name,
                  cur->report[0] ? cur->report : "by the monitor's kill");
        proc_die(cur, report);
    }
}

void schedule(void)
{
    spin_assert_none_held(SCHED_SLEEP_WITH_LOCK); /* the next taker would spin until we run */
    spin_lock(&sched_lock);
    struct proc *cur = this_cpu()->proc;
    schedule_locked();
    spin_unlock(&sched_lock);
    after_switch(cur);
}

/* Ten times a second, the monitor waiting in `run` gets to look for a
 * Ctrl-C (proc_wait_for). Lock held. */
static void poll_monitor(void)
{
    struct proc *k = &proc_table[0];
    uint64_t now = arch_ticks();
    if (now - last_poll < ARCH_TICK_HZ / 10)
        return;
    last_poll = now;
    if (k->state == P_WAITING && k->wait_stops) {
        k->state = P_RUNNABLE;
        k->poll = true;
    }
}

/* Nothing can run anywhere, and no interrupt can change that, if the kernel
 * thread itself waits: its program waits on a stopped process. Wake it with
 * the news (wait_pid -2) rather than hang the monitor. Lock held. */
static void break_deadlock(void)
{
    struct proc *k = &proc_table[0];
    if (k->state != P_WAITING)
        return;
    for (int i = 1; i < PROC_MAX; i++) {
        const struct proc *p = &proc_table[i];
        if (p->state == P_RUNNABLE || p->state == P_RUNNING || p->on_cpu)
            return;
    }
    k->state = P_RUNNABLE;
    k->wait_pid = -2;
}

/* The idle loop's hook (smp_idle), interrupts off: run a thread if one may
 * run here. True when it ran one. */
static bool sched_idle_work(void)
{
    struct cpu *c = this_cpu();
    struct proc *idle = &idle_threads[c->index];
    /* A look without the lock first (a stale answer costs one tick): an
     * idle CPU that wakes on every tick should not take the lock each time
     * for nothing. */
    bool maybe = !c->proc || (c->index == 0 && proc_table[0].state == P_WAITING);
    for (int i = 0; i < PROC_MAX && !maybe; i++)
        maybe = __atomic_load_n(&proc_table[i].state, __ATOMIC_RELAXED) == P_RUNNABLE;
    if (!maybe)
        return false;
    spin_lock(&sched_lock);
    if (!c->proc) { /* an AP's first visit: its bring-up context is its idle thread */
        c->proc = idle;
        idle->on_cpu = true;
        idle->cpu = (int)c->index;
    }
    if (c->index == 0) {
        poll_monitor();
        break_deadlock();
    }
    uint64_t before = c->switches;
    schedule_locked();
    bool ran = this_cpu()->switches != before;
    spin_unlock(&sched_lock);
    return ran;
}

static void idle_entry(void)
{
    smp_idle();
}

void sched_init(struct proc *kernel_thread)
{
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        idle_threads[i].pid = -1;
        idle_threads[i].state = P_RUNNING;
        idle_threads[i].cpu = (int)i;
        ksnprintf(idle_threads[i].name, sizeof(idle_threads[i].name), "idle%u", i);
    }
    idle_threads[0].ctx = arch_kctx_new(arch_idle_kstack(), idle_entry);
    idle_threads[0].on_cpu = false;
    kernel_thread->on_cpu = true;
    kernel_thread->cpu = 0;
    kernel_thread->boot_only = true;
    this_cpu()->proc = kernel_thread;
    smp_set_idle_hook(sched_idle_work);
}

/* Has this tick anything to do under the lock? Read without it: every CPU
 * ticks 100 times a second, and a lock taken on each tick by each CPU is
 * what a guest whose virtual CPUs the host preempts cannot afford (a ticket
 * lock waits for every waiter ahead in line; with 8 CPUs on 2 host cores the
 * ticks alone kept the lock busy and user code nearly stopped). A stale "no"
 * costs one slice; a stale "yes" one look under the lock. */
static bool tick_has_work(struct cpu *c, struct proc *cur)
{
    if (cur->boot_only || cur->kill_pending || smp_call_pending(c) ||
        __atomic_load_n(&cur->state, __ATOMIC_RELAXED) != P_RUNNING)
        return true;
    if (arch_ticks() - __atomic_load_n(&last_poll, __ATOMIC_RELAXED) >= ARCH_TICK_HZ / 10 &&
        __atomic_load_n(&proc_table[0].state, __ATOMIC_RELAXED) == P_WAITING)
        return true; /* the monitor's Ctrl-C look is due */
    for (int i = 0; i < PROC_MAX; i++) {
        const struct proc *p = &proc_table[i];
        if (p != cur && __atomic_load_n(&p->state, __ATOMIC_RELAXED) == P_RUNNABLE &&
            !__atomic_load_n(&p->on_cpu, __ATOMIC_RELAXED) && may_run_here(p, c))
            return true; /* someone waits for a CPU: round robin */
    }
    return false;
}

void sched_tick(void)
{
    struct cpu *c = this_cpu();
    struct proc *cur = c->proc;
    c->user_ticks++;
    cur->ticks++;
    if (!tick_has_work(c, cur))
        return;
    c->tick_locks++;
    spin_lock(&sched_lock);
    cur->boot_only = false; /* (a new process has had its first slice) */
    poll_monitor();
    schedule_locked();
    spin_unlock(&sched_lock);
    after_switch(cur);
}

void sched_call_kick(void)
{
    struct cpu *c = this_cpu();
    bool go = smp_call_pending(c);
    if (!go && c->index == 0) { /* kernel work moved here from an AP? */
        spin_lock(&sched_lock);
        for (int i = 1; i < PROC_MAX && !go; i++)
            go = proc_table[i].state == P_RUNNABLE && proc_table[i].boot_only;
        spin_unlock(&sched_lock);
    }
    if (go)
        schedule();
}
