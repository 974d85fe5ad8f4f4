/*
 * Ticket spinlocks and their checks (<pagoda/spinlock.h>).
 *
 * Theory of operation
 * -------------------
 * next is a ticket dispenser, owner the ticket being served. spin_lock takes
 * a ticket with an atomic add and waits, with pause, until owner reaches it;
 * spin_unlock advances owner with a release store. Only the holder writes
 * owner, so the unlock needs no atomic read-modify-write. FIFO order means a
 * waiter is never starved, and the holder's index in `holder` lets a waiter
 * that gives up name who holds the lock.
 *
 * The checks use the running CPU's struct cpu: a short list of the locks it
 * holds (innermost last). Recursion and lock order are checked before a
 * ticket is taken, so a reporter that returns leaves the lock untouched. A
 * waiter past spin_limit has its ticket already: it reports once and keeps
 * waiting, because abandoning a ticket would stall every later waiter.
 *
 * Host builds: each thread is a CPU with its own struct cpu (cpu_host.c),
 * and interrupts do not exist.
 */
#include <pagoda/percpu.h>
#include <pagoda/printk.h>
#include <pagoda/spinlock.h>

#ifdef PAGODA_KERNEL
#include <arch/arch.h>
static void relax(void) { __asm__ volatile("pause" ::: "memory"); }
#else
static bool arch_irq_save(void) { return false; }
static void arch_irq_restore(bool on) { UNUSED(on); }
/* A host thread that spins may be spinning on a holder the OS has taken off
 * its core (more threads than cores; under ThreadSanitizer, 4 spinning
 * threads on 2 cores took 45 minutes): give the core away instead. */
#include <sched.h>
static void relax(void) { sched_yield(); }

#endif

uint64_t spin_limit = 1ULL << 28;
spin_report_fn spin_report = spin_report_panic;
void (*spin_wait_hook)(void);

void spin_report_panic(const spinlock_t *l, const char *what, int other_cpu)
{
    if (other_cpu >= 0)
        panic("spinlock '%s': %s (CPU %u; the other CPU is %d)", l->name, what,
              this_cpu()->index, other_cpu);
    panic("spinlock '%s': %s (CPU %u)", l->name, what, this_cpu()->index);
}

void spin_init(spinlock_t *l, const char *name, unsigned level)
{
    *l = (spinlock_t)SPINLOCK_INIT(name, level);
}

/* The holder is written by the CPU that takes or drops the lock and read by
 * everyone's checks: relaxed atomics, since a check only compares it with
 * its own index, which no other CPU ever stores. */
static int holder_of(const spinlock_t *l)
{
    return __atomic_load_n(&l->holder, __ATOMIC_RELAXED);
}

bool spin_held(const spinlock_t *l)
{
    return holder_of(l) == (int)this_cpu()->index;
}

/* Recursion and order: may this CPU take l now? Inline, with the reports
 * out of line: the uncontended lock is a few loads, one atomic add and a
 * compare, with no register saved for the wait loop. */
static inline bool may_take(struct cpu *c, spinlock_t *l)
{
    if (unlikely(holder_of(l) == (int)c->index)) {
        spin_report(l, "recursive lock: this CPU already holds it", -1);
        return false;
    }
    /* The held locks' levels rise strictly along the list (each was checked
     * against the innermost when taken, and an unlock keeps the order), so
     * the innermost has the highest: one compare checks them all. */
    if (unlikely(c->nlocks && c->locks[c->nlocks - 1]->level >= l->level)) {
        spin_report(l, "lock order: taken inside a lock of the same or a higher level", -1);
        return false;
    }
    if (unlikely(c->nlocks == CPU_MAX_LOCKS)) {
        spin_report(l, "too many spinlocks held at once", -1);
        return false;
    }
    return true;
}

static inline void taken(struct cpu *c, spinlock_t *l)
{
    __atomic_store_n(&l->holder, (int)c->index, __ATOMIC_RELAXED);
    c->locks[c->nlocks++] = l;
}

/* Wait for ticket `ticket` to be served. */
__attribute__((noinline)) static void spin_wait(spinlock_t *l, uint32_t ticket)
{
    uint64_t spins = 0;
    bool reported = false;
    while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket) {
        relax();
        if (spin_wait_hook)
            spin_wait_hook();
        if (++spins > spin_limit && !reported) {
            reported = true;
            spin_report(l, "held too long: the spin limit ran out", holder_of(l));
        }
    }
}

void spin_lock(spinlock_t *l)
{
    struct cpu *c = this_cpu();
    if (!may_take(c, l))
        return;
    uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    if (unlikely(__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket))
        spin_wait(l, ticket);
    taken(c, l);
}

bool spin_trylock(spinlock_t *l)
{
    struct cpu *c = this_cpu();
    if (!may_take(c, l))
        return false;
    /* Acquire: the last holder's unlock released through owner, and what
     * it wrote must be seen here as by spin_lock's waiters. */
    uint32_t t = __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE);
    uint32_t expect = t;
    /* Free means next == owner: take ticket t only if nobody else has. */
    if (!__atomic_compare_exchange_n(&l->next, &expect, t + 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return false;
    taken(c, l);
    return true;
}

void spin_unlock(spinlock_t *l)
{
    struct cpu *c = this_cpu();
    int holder = holder_of(l);
    if (holder != (int)c->index) {
        spin_report(l, holder < 0 ? "unlock of a lock nobody holds"
                                  : "unlock by a CPU that does not hold it",
                    holder);
        return;
    }
    /* Usually the innermost; an out-of-order unlock closes the gap, which
     * keeps the levels rising. */
    if (likely(c->nlocks && c->locks[c->nlocks - 1] == l))
        c->nlocks--;
    else
        for (unsigned i = c->nlocks; i-- > 0;)
            if (c->locks[i] == l) {
                for (unsigned j = i; j + 1 < c->nlocks; j++)
                    c->locks[j] = c->locks[j + 1];
                c->nlocks--;
                break;
            }
    __atomic_store_n(&l->holder, -1, __ATOMIC_RELAXED);
    __atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

bool spin_lock_irqsave(spinlock_t *l)
{
    bool on = arch_irq_save();
    spin_lock(l);
    return on;
}

void spin_unlock_irqrestore(spinlock_t *l, bool irq_was_on)
{
    spin_unlock(l);
    arch_irq_restore(irq_was_on);
}

void spin_assert_none_held(const char *where)
{
    struct cpu *c = this_cpu();
    if (c->nlocks)
        spin_report(c->locks[c->nlocks - 1], where, -1);
}
