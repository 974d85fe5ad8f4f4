/* The host's stand-in CPUs (src/lib/cpu_host.c) and spinlocks under
 * ThreadSanitizer: distinct indexes among live threads, indexes reused after
 * a thread ends, exit hooks run as the ending thread, and a ticket lock that
 * keeps a shared counter exact. */
#include <pthread.h>

#include <pagoda/percpu.h>
#include <pagoda/spinlock.h>

#include "harness.h"

#define NT 4

static pthread_barrier_t bar;
static unsigned seen_index[NT];

static void *report_index(void *arg)
{
    seen_index[(uintptr_t)arg] = this_cpu()->index;
    pthread_barrier_wait(&bar); /* all alive at once */
    return NULL;
}

HTEST(mt_cpu_live_threads_have_distinct_indexes)
{
    pthread_t t[NT];
    (void)this_cpu(); /* the main thread holds one too */
    pthread_barrier_init(&bar, NULL, NT);
    for (uintptr_t i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, report_index, (void *)i);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < NT; i++) {
        CHECK(seen_index[i] < SMP_MAX_CPUS);
        CHECK(seen_index[i] != this_cpu()->index);
        for (int j = 0; j < i; j++)
            CHECK(seen_index[i] != seen_index[j]);
    }
}

static void *touch(void *arg)
{
    *(unsigned *)arg = this_cpu()->index;
    return NULL;
}

HTEST(mt_cpu_indexes_are_reused)
{
    /* Far more threads than SMP_MAX_CPUS, one after another: each ends
     * before the next starts, so the index stays small. */
    unsigned idx = 0, max = 0;
    for (int i = 0; i < 4 * SMP_MAX_CPUS; i++) {
        pthread_t t;
        pthread_create(&t, NULL, touch, &idx);
        pthread_join(t, NULL);
        if (idx > max)
            max = idx;
    }
    CHECK(max < 4);
    CHECK(cpu_count() <= SMP_MAX_CPUS);
}

static int hook_runs, hook_as_self;
static void exit_hook(struct cpu *c)
{
    __atomic_fetch_add(&hook_runs, 1, __ATOMIC_RELAXED);
    if (this_cpu() == c && cpu_host_online(c->index))
        __atomic_fetch_add(&hook_as_self, 1, __ATOMIC_RELAXED);
}

HTEST(mt_cpu_exit_hook_runs_as_the_ending_thread)
{
    cpu_host_on_exit(exit_hook);
    cpu_host_on_exit(exit_hook); /* once only */
    unsigned idx;
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        pthread_create(&t, NULL, touch, &idx);
        pthread_join(t, NULL);
    }
    CHECK_EQ(__atomic_load_n(&hook_runs, __ATOMIC_RELAXED), 3);
    CHECK_EQ(__atomic_load_n(&hook_as_self, __ATOMIC_RELAXED), 3);
    CHECK(!cpu_host_online(idx) || idx == this_cpu()->index);
}

static spinlock_t counter_lock = SPINLOCK_INIT("mt counter", LOCK_LEVEL_TEST);
static uint64_t counter;
#define BUMPS 20000

static void *bump(void *arg)
{
    for (int i = 0; i < BUMPS; i++) {
        spin_lock(&counter_lock);
        counter++; /* TSan reports a race here if the lock does not order */
        spin_unlock(&counter_lock);
    }
    return NULL;
}

HTEST(mt_spinlock_keeps_a_counter_exact)
{
    pthread_t t[NT];
    counter = 0;
    for (int i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, bump, NULL);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(counter, (uint64_t)NT * BUMPS);
}
