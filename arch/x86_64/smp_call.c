/*
 * Running code on other CPUs, and stopping them.
 *
 * Calls. Each struct cpu has a mailbox (call_fn, call_arg, call_seq,
 * call_done). smp_call_all fills every online CPU's mailbox, bumps its
 * call_seq (release), sends it LAPIC_CALL_VEC, runs the function itself and
 * waits until every call_done equals its call_seq. The IPI's handler only
 * counts; its work is waking the CPU out of hlt. The idle loop then runs the
 * function outside interrupt context, with interrupts on, so the function
 * may take irqsave locks and the LAPIC timer keeps ticking under it. The
 * check of the mailbox and the hlt are joined by `sti; hlt` (the interrupt
 * shadow), so an IPI that arrives between them is not lost.
 *
 * Stop. A fatal path (panic, an unhandled exception) calls smp_stop_others:
 * the first CPU to get there becomes the reporter (an atomic exchange); it
 * sets each other CPU's `stop` flag and sends it an NMI. The NMI handler
 * checks that flag before anything else (trap_dispatch), so a stop NMI is
 * told apart from any other NMI; it prints where the CPU was (its RIP and
 * backtrace, so that a hang's report shows every CPU) and halts it for
 * good. A second CPU reaching a fatal path meanwhile halts quietly: one
 * report, not two interleaved.
 */
#include <arch/arch.h>
#include <pagoda/errno.h>
#include <pagoda/kmalloc.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/spinlock.h>
#include <pagoda/tlb.h>

#include "irq.h"
#include "lapic.h"
#include "smp.h"
#include "x86.h"

static spinlock_t call_lock = SPINLOCK_INIT("smp_call", LOCK_LEVEL_SMP_CALL);
static volatile int reporter = -1;

bool smp_this_is_boot_cpu(void) { return this_cpu()->index == 0; }
bool smp_nmi_is_stop(void) { return this_cpu()->stop; }

void smp_stop_this_cpu(void)
{
    struct cpu *c = this_cpu();
    c->nmis_stop++;
    __atomic_store_n(&c->state, CPU_STOPPED, __ATOMIC_RELEASE);
    for (;;)
        __asm__ volatile("cli; hlt" ::: "memory");
}

void arch_stop_other_cpus(void) { smp_stop_others(); }

void smp_stop_others(void)
{
    struct cpu *me = this_cpu();
    int expect = -1;
    if (!__atomic_compare_exchange_n(&reporter, &expect, (int)me->index, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE) &&
        expect != (int)me->index)
        smp_stop_this_cpu(); /* another CPU is reporting, and stops us too */
    unsigned sent = 0, stopped = 0;
    for (unsigned i = 0; i < cpu_count(); i++) {
        struct cpu *c = cpu_get(i);
        if (c == me || c->state != CPU_ONLINE)
            continue;
        c->stop = true;
        sent += lapic_send_nmi(c->apic_id);
    }
    for (unsigned i = 0; i < cpu_count(); i++) {
        struct cpu *c = cpu_get(i);
        if (c == me || !c->stop)
            continue;
        /* Up to a second each: a stopped CPU prints where it was first. */
        for (unsigned spin = 0; spin < 1000 && c->state != CPU_STOPPED; spin++)
            pit_delay_us(1000);
        stopped += c->state == CPU_STOPPED;
    }
    printk("\n*** CPU %u (APIC id %u) stops the machine", me->index, me->apic_id);
    if (sent)
        printk("; %u other CPU%s stopped by NMI%s", stopped, stopped == 1 ? "" : "s",
               stopped == sent ? "" : " (some did not answer)");
    printk("\n");
}

static bool (*volatile idle_hook)(void);

void smp_set_idle_hook(bool (*hook)(void)) { idle_hook = hook; }

/* Every CPU's idle thread (the APs' bring-up stack; the boot CPU's comes
 * from the scheduler). The scheduler switches back here whenever a call is
 * pending, so calls are served even while processes keep a CPU busy. */
void smp_idle(void)
{
    struct cpu *c = this_cpu(); /* (an idle thread never changes CPU) */
    for (;;) {
        cli();
        uint64_t seq = __atomic_load_n(&c->call_seq, __ATOMIC_ACQUIRE);
        if (seq != c->call_done) {
            void (*fn)(void *) = c->call_fn;
            void *arg = c->call_arg;
            sti();
            fn(arg);
            __atomic_store_n(&c->call_done, seq, __ATOMIC_RELEASE);
            continue;
        }
        sti();
        pmm_cpu_idle(); /* another CPU out of frames may want our cache */
        if (kheap_idle_drain)
            kheap_cpu_idle(c->ticks); /* what our magazines pin can go back */
        cli();
        if (__atomic_load_n(&c->call_seq, __ATOMIC_ACQUIRE) != c->call_done)
            continue;
        bool (*hook)(void) = idle_hook;
        if (hook && hook())
            continue;
        __asm__ volatile("sti; hlt" ::: "memory");
    }
}

bool smp_send_ipi(unsigned index)
{
    struct cpu *c = cpu_get(index);
    return c && c->state == CPU_ONLINE && lapic_send_ipi(c->apic_id, LAPIC_CALL_VEC);
}

static void post(struct cpu *c, void (*fn)(void *), void *arg)
{
    c->call_fn = fn;
    c->call_arg = arg;
    __atomic_store_n(&c->call_seq, c->call_seq + 1, __ATOMIC_RELEASE);
    lapic_send_ipi(c->apic_id, LAPIC_CALL_VEC);
}

/* Wait for c to finish its posted call: true when it did within ms. */
static bool finished(struct cpu *c, unsigned ms)
{
    for (unsigned i = 0; i <= ms * 10; i++) {
        if (__atomic_load_n(&c->call_done, __ATOMIC_ACQUIRE) == c->call_seq)
            return true;
        tlb_poll(); /* c may be waiting for our flush (we wait with interrupts off) */
        pit_delay_us(100);
    }
    return false;
}

int smp_call_all(void (*fn)(void *arg), void *arg, unsigned timeout_ms)
{
    struct cpu *me = this_cpu();
    /* fn runs with interrupts on everywhere, the caller's share included: a
     * CPU inside fn may wait for another (a barrier, a lock) while that one
     * waits for this CPU's answer to a TLB shootdown, which needs the IPI.
     * So the caller may hold no other lock (it would be held with
     * interrupts on, and fn could not take it). */
    spin_assert_none_held("smp_call_all");
    bool irq = spin_lock_irqsave(&call_lock);
    unsigned ran = 1;
    for (unsigned i = 0; i < cpu_count(); i++) {
        struct cpu *c = cpu_get(i);
        if (c != me && c->state == CPU_ONLINE)
            post(c, fn, arg);
    }
    arch_irq_restore(true);
    fn(arg);
    irq = arch_irq_save();
    int err = 0;
    for (unsigned i = 0; i < cpu_count(); i++) {
        struct cpu *c = cpu_get(i);
        if (c == me || c->state != CPU_ONLINE || c->call_seq == c->call_done)
            continue; /* call_seq moved: posted above; equal: done */
        if (finished(c, timeout_ms)) {
            ran++;
        } else {
            printk("smp: CPU %u did not finish a cross-CPU call in %u ms\n", i, timeout_ms);
            err = -E_RANGE;
        }
    }
    /* CPUs that had finished before the wait loop looked count too. */
    if (!err) {
        ran = 0;
        for (unsigned i = 0; i < cpu_count(); i++)
            ran += cpu_get(i)->state == CPU_ONLINE;
    }
    spin_unlock_irqrestore(&call_lock, irq);
    return err ? err : (int)ran;
}

int smp_call_one(unsigned index, void (*fn)(void *arg), void *arg, unsigned timeout_ms)
{
    struct cpu *c = cpu_get(index);
    if (!c || c == this_cpu() || c->state != CPU_ONLINE)
        return -E_NOENT;
    bool irq = spin_lock_irqsave(&call_lock);
    post(c, fn, arg);
    arch_irq_restore(irq); /* the caller may need its own ticks meanwhile */
    bool ok = finished(c, timeout_ms);
    irq = arch_irq_save();
    spin_unlock_irqrestore(&call_lock, irq);
    return ok ? 0 : -E_RANGE;
}
