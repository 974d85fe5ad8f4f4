/*
 * The lock order, in one place. Every spinlock has a level; a CPU holding a
 * lock may only take locks of a strictly higher level (inner locks have
 * higher numbers). The spinlock checks enforce it at run time, so a wrong
 * nesting is reported the first time it happens, not the first time two CPUs
 * deadlock on it.
 *
 * Who calls whom, outer to inner:
 *   a user address space's operations (map, fault, fork) allocate page
 *   tables from the PMM and descriptors from slab caches and kmalloc;
 *   vmm_alloc takes the kernel range set, whose descriptors come from a slab
 *   cache; a slab cache grows through kmalloc and the heap's list allocator;
 *   the heap (its spans, list allocator and span descriptors) grows by
 *   mapping pages in the kernel half; a page-table change in the kernel half
 *   takes frames from the PMM and, on unmap, queues a TLB shootdown; the
 *   PMM's global lock is the innermost allocator lock.
 * The heap's depot locks (one per size class) are inner to the heap lock,
 * not outer: a magazine exchange takes its class's depot lock alone, while
 * the paths that move blocks between magazines and spans (flushes, the
 * release policy's drain, the double-free confirmation) hold the heap lock
 * and take the depot lock inside it; a depot lock holder takes no other
 * lock, and nothing that may run the release policy (list_alloc) is
 * called under one.
 * Per-CPU caches (magazines, the frame cache, temp-map slots) take no lock:
 * only their CPU touches them, with no allocation from interrupt handlers.
 *
 * Interrupts and shootdowns: a CPU waiting for shootdown acknowledgements
 * has interrupts on, and every allocator lock is taken with interrupts on
 * (none is taken in an interrupt handler), so a CPU spinning on a lock can
 * always take the shootdown IPI of the CPU that holds it. Where interrupts
 * are off anyway (the boot CPU running tests, a fault handler), the waits
 * answer by polling: the spinlock wait loop (spin_wait_hook), pit_delay_us,
 * smp_call_all's wait and the shootdown's own wait (arch/x86_64/tlb.c).
 * The KPT lock covers every page-table edit, both halves, and is held
 * through the shootdown; the shootdown itself needs no lock (each CPU has
 * its own request slot), so LOCK_LEVEL_SHOOTDOWN is free for now.
 *
 * Levels are spaced so that locks can be slotted in between.
 */
#ifndef PAGODA_LOCKORDER_H
#define PAGODA_LOCKORDER_H

enum lock_level {
    LOCK_LEVEL_NONE = 0,       /* tests and leaf locks with no nesting */
    LOCK_LEVEL_SMP_CALL = 10,  /* smp_call_all: one cross-CPU call at a time */
    LOCK_LEVEL_TEST = 15,      /* the smp_ tests' own locks (outer one) */
    LOCK_LEVEL_TEST_INNER = 16,
    LOCK_LEVEL_SCHED = 18,     /* the process table and run queue */
    LOCK_LEVEL_VMM_SPACE = 20, /* one user address space: its regions and tables */
    LOCK_LEVEL_KVA = 30,       /* the kernel virtual range set (vmm_alloc) */
    LOCK_LEVEL_SLAB_LIST = 33, /* the list of slab caches (walks take each cache's) */
    LOCK_LEVEL_SLAB = 35,      /* one slab cache */
    LOCK_LEVEL_KFENCE = 38,    /* the sampled guard-page pool */
    LOCK_LEVEL_HEAP = 40,      /* the heap: spans, list allocator, span descriptors */
    LOCK_LEVEL_HEAP_DEPOT = 42, /* one size class's magazine depot (heap_depot.c) */
    LOCK_LEVEL_KPT = 45,       /* the kernel half's page tables */
    LOCK_LEVEL_SHOOTDOWN = 50, /* the TLB-shootdown batch */
    LOCK_LEVEL_PMM = 60,       /* the global frame bitmap */
    LOCK_LEVEL_CONSOLE = 90,   /* printk's console lock: innermost (not a spinlock_t) */
};

#endif
