/*
 * The lock order, in one place. Every spinlock has a level; a CPU holding a
 * lock may only take locks of a strictly higher level (inner locks have
 * higher numbers). The spinlock checks enforce it at run time, so a wrong
 * nesting is reported the first time it happens, not the first time two CPUs
 * deadlock on it.
 *
 * Levels are spaced so that locks can be slotted in between. The entries
 * marked "(to come)" name the locks the per-CPU allocator and shootdown work
 * will add, in the order they must nest: a VMM operation may allocate page
 * tables (PMM) and descriptors (slab, heap); the heap grows through the VMM's
 * kernel ranges and the PMM; nothing is taken inside the console lock.
 */
#ifndef PAGODA_LOCKORDER_H
#define PAGODA_LOCKORDER_H

enum lock_level {
    LOCK_LEVEL_NONE = 0,     /* tests and leaf locks with no nesting */
    LOCK_LEVEL_SMP_CALL = 10, /* smp_call_all: one cross-CPU call at a time */
    LOCK_LEVEL_TEST = 15,    /* the smp_ tests' own locks (outer one) */
    LOCK_LEVEL_TEST_INNER = 16,
    LOCK_LEVEL_VMM_SPACE = 20, /* (to come) an address space's tables */
    LOCK_LEVEL_SHOOTDOWN = 25, /* (to come) the TLB-shootdown batch */
    LOCK_LEVEL_KVA = 30,     /* (to come) the kernel virtual range set */
    LOCK_LEVEL_HEAP = 40,    /* (to come) the heap's list allocator and depot */
    LOCK_LEVEL_SLAB = 50,    /* (to come) one slab cache */
    LOCK_LEVEL_PMM = 60,     /* (to come) the global frame bitmap */
    LOCK_LEVEL_CONSOLE = 90, /* printk's console lock: innermost (not a spinlock_t) */
};

#endif
