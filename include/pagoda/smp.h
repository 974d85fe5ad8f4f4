/*
 * Multiprocessor bring-up and cross-CPU calls (arch/x86_64/smp*.c).
 * Per-CPU state: <pagoda/percpu.h>. Locks: <pagoda/spinlock.h>.
 */
#ifndef PAGODA_SMP_H
#define PAGODA_SMP_H

#include <pagoda/percpu.h>

/* Find the CPUs in the ACPI MADT, start the LAPIC (and its timer) on the
 * boot CPU, and start every other CPU into its idle loop. Logs
 * "smp: N CPUs online". Without a usable MADT it logs why and runs on one
 * CPU. Call once from kmain, after the heap, before anything uses the APs. */
void smp_init(void);

/* CPUs in state CPU_ONLINE (1 before smp_init). */
unsigned smp_online(void);

/*
 * Run fn(arg) on every online CPU at once, the caller's included (it runs
 * fn itself after starting the others), and wait until all have returned.
 * Other CPUs run fn from their idle loop and the caller runs its share, all
 * with interrupts on (so a CPU inside fn answers TLB shootdowns); the caller
 * must hold no spinlock. Returns the number
 * of CPUs that ran it, or a negative code if one did not finish within
 * timeout_ms (its index is logged). One call at a time (a lock serialises).
 * fn may use the PMM, the heap and the slab caches (kmalloc/kfree,
 * kmem_cache_*): they are SMP-safe, with per-CPU caches. It must not sleep.
 */
int smp_call_all(void (*fn)(void *arg), void *arg, unsigned timeout_ms);
/* Run fn(arg) on the one CPU `index` (not the caller) and wait for it. */
int smp_call_one(unsigned index, void (*fn)(void *arg), void *arg, unsigned timeout_ms);

/* The idle loop every CPU's idle thread runs: serve the call mailbox, else
 * ask the idle hook for work, else sti; hlt. Never returns. */
__attribute__((noreturn)) void smp_idle(void);
/* The idle loop's hook (the scheduler): called with interrupts off when the
 * mailbox is empty; returns true when it did something (ran a thread), so
 * the loop looks at the mailbox again before it halts. */
void smp_set_idle_hook(bool (*hook)(void));
/* Is a cross-CPU call waiting for CPU c (posted, not yet finished)? */
static inline bool smp_call_pending(const struct cpu *c)
{
    return __atomic_load_n(&c->call_seq, __ATOMIC_ACQUIRE) != c->call_done;
}

/* Send the call IPI to CPU `index` (it only counts it: cpu->ipis). */
bool smp_send_ipi(unsigned index);

#endif
