/* Host tests: contention made deterministic. lock_hold_until_waited takes l
 * and keeps it until another thread waits for it (holds a ticket, taken
 * after its trylock failed and was counted), `*left` times, or until *left
 * drops to 0. Run it on a thread of its own. */
#ifndef TESTS_HOST_LOCK_HOLDER_H
#define TESTS_HOST_LOCK_HOLDER_H

#include <sched.h>

#include <pagoda/spinlock.h>

static inline void lock_hold_until_waited(spinlock_t *l, _Atomic int *left)
{
    while (*left > 0) {
        spin_lock(l);
        while (__atomic_load_n(&l->next, __ATOMIC_ACQUIRE) -
                       __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) < 2 &&
               *left > 0)
            sched_yield();
        spin_unlock(l);
        (*left)--;
    }
}

#endif
