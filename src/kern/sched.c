/*
 * The scheduler: preemptive round-robin over the process table, on one CPU.
 *
 * Theory of operation. Every thread (the kernel thread in slot 0, and each
 * process) has a kernel stack; a switch saves the callee-saved registers and
 * the stack pointer of one and loads the other's (arch_switch). schedule()
 * picks the next runnable slot after the current one, in table order, so
 * that every runnable thread gets a turn; the timer calls it on every tick
 * that interrupts user code (sched_tick), and threads call it when they
 * block (wait, stop, exit) or yield. With nothing runnable it idles in hlt
 * with interrupts on, until an interrupt makes something runnable.
 *
 * Kernel code is never preempted: a tick that interrupts the kernel (the
 * monitor, a system call) only counts. So the kernel needs no locks against
 * its own threads; interrupts off covers every switch.
 *
 * Cost: O(PROC_MAX) per decision. Weaknesses: one CPU (only the boot CPU's
 * struct cpu has a proc; the APs idle); no priorities; a process that never enters the kernel still
 * gets only its tick-sized slices, which is the point.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/user.h>
#include <pagoda/printk.h>

#include "proc.h"

static struct proc *pick(struct proc *cur)
{
    int at = (int)(cur - proc_table);
    for (int n = 1; n <= PROC_MAX; n++) {
        struct proc *p = &proc_table[(at + n) % PROC_MAX];
        if (p->state == P_RUNNABLE || (p == cur && p->state == P_RUNNING))
            return p;
    }
    return NULL;
}

void schedule(void)
{
    struct cpu *c = this_cpu();
    struct proc *cur = c->proc, *next;
    if (cur->state == P_RUNNING)
        cur->state = P_RUNNABLE;
    while (!(next = pick(cur))) {
        /* Nothing can run, and no interrupt can change that if the kernel
         * thread itself waits: its program waits on a stopped process. Wake
         * it with the news (wait_pid -2) rather than hang the monitor. */
        if (proc_table[0].state == P_WAITING) {
            proc_table[0].state = P_RUNNABLE;
            proc_table[0].wait_pid = -2;
            continue;
        }
        __asm__ volatile("sti; hlt; cli" ::: "memory"); /* idle until an interrupt */
    }
    next->state = P_RUNNING;
    if (next != cur) {
        c->proc = next;
        c->switches++;
        arch_mmu_activate(next->has_as ? next->as.mmu : NULL);
        if (next->kstack_top)
            arch_set_kernel_stack(next->kstack_top);
        arch_switch(&cur->ctx, next->ctx);
        /* cur runs again here, switched back in by someone's schedule(). */
    }
    for (int i = 1; i < PROC_MAX; i++)
        if (proc_table[i].state == P_DEAD && &proc_table[i] != cur)
            proc_table[i].state = P_FREE;
    if (cur->kill_pending && cur->has_as) {
        cur->kill_pending = false;
        char report[200];
        ksnprintf(report, sizeof(report), "killed: pid %d (%s): %s", cur->pid, cur->name,
                  cur->report[0] ? cur->report : "by the monitor's kill");
        proc_die(cur, report);
    }
}

void sched_tick(void)
{
    struct cpu *c = this_cpu();
    c->user_ticks++;
    c->proc->ticks++;
    /* Ten times a second, the monitor waiting in `run` gets to look for a
     * Ctrl-C (proc_wait_for). */
    struct proc *k = &proc_table[0];
    if (c->user_ticks % 10 == 0 && k->state == P_WAITING && k->wait_stops) {
        k->state = P_RUNNABLE;
        k->poll = true;
    }
    schedule();
}
