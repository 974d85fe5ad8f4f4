/*
 * Ticket spinlocks, with checks that are always on.
 *
 * A lock hands out tickets (next) and serves them in order (owner), so
 * waiting CPUs get it first come, first served. Debugging, on every
 * acquisition (a few loads; locks here guard short sections):
 *   - recursion: taking a lock this CPU already holds;
 *   - order: taking a lock whose level (<pagoda/lockorder.h>) is not above
 *     every lock this CPU holds;
 *   - unlock by another CPU, or of a lock nobody holds;
 *   - held too long: a waiter that spins spin_limit times names the holder.
 * A failed check calls spin_report (default: panic with the lock's name and
 * both CPUs). Tests may install a reporter that returns: a recursive or
 * out-of-order lock is then not taken, a bad unlock not done, and a waiter
 * past the spin limit reports once and goes on waiting.
 *
 * Interrupts: spin_lock_irqsave disables them first and returns whether they
 * were on, for spin_unlock_irqrestore. A lock that an interrupt handler also
 * takes must always be taken with irqsave. Locks are not held across a sleep
 * (spin_assert_none_held is the check a sleeping function makes).
 *
 * Cost, uncontended: one atomic add, one load, the checks; unlock is a store.
 */
#ifndef PAGODA_SPINLOCK_H
#define PAGODA_SPINLOCK_H

#include <pagoda/lockorder.h>
#include <pagoda/types.h>

typedef struct spinlock {
    volatile uint32_t next;  /* the next ticket to hand out */
    volatile uint32_t owner; /* the ticket now served */
    volatile int holder;     /* the holder's CPU index, -1 when free */
    unsigned level;          /* enum lock_level */
    const char *name;
} spinlock_t;

#define SPINLOCK_INIT(nm, lvl) {0, 0, -1, (lvl), (nm)}

/* Initialise a lock at run time (same as SPINLOCK_INIT). */
void spin_init(spinlock_t *l, const char *name, unsigned level);
/* Take the lock, spinning; interrupts are left as they are. */
void spin_lock(spinlock_t *l);
/* Take it only if free: true when taken. */
bool spin_trylock(spinlock_t *l);
/* Release a lock this CPU holds. */
void spin_unlock(spinlock_t *l);
/* Disable interrupts, then take the lock; returns the old interrupt state. */
bool spin_lock_irqsave(spinlock_t *l);
/* Release, then restore the interrupt state spin_lock_irqsave returned. */
void spin_unlock_irqrestore(spinlock_t *l, bool irq_was_on);
/* Does the running CPU hold l? */
bool spin_held(const spinlock_t *l);
/* Report if the running CPU holds any spinlock (`where` names the caller):
 * for functions that may sleep. */
void spin_assert_none_held(const char *where);

/* Spins a waiter makes before reporting "held too long". The default (2^28
 * pauses, seconds even under emulation) only catches real hangs. */
extern uint64_t spin_limit;

/* Called on every turn of a waiter's spin when set (the kernel sets it to
 * answer TLB shootdowns, arch/x86_64/tlb.c): a CPU waiting with interrupts
 * off must not stall a lock holder that waits for that CPU's flush. */
extern void (*spin_wait_hook)(void);

/* Called when a check fails: what ("recursive lock", ...), the lock, and the
 * other CPU involved (-1 if none). The default panics; it may return. */
typedef void (*spin_report_fn)(const spinlock_t *l, const char *what, int other_cpu);
extern spin_report_fn spin_report;
void spin_report_panic(const spinlock_t *l, const char *what, int other_cpu);

#endif
