/* Host tests of the ticket spinlock and its checks (src/lib/spinlock.c),
 * with threads standing in for CPUs. */
#include <pagoda/percpu.h>
#include <pagoda/spinlock.h>
#include <pthread.h>
#include <string.h>

#include "harness.h"

static int reports;
static const char *last_what;
static int last_other;

static void record(const spinlock_t *l, const char *what, int other)
{
    __atomic_fetch_add(&reports, 1, __ATOMIC_SEQ_CST);
    last_what = what;
    last_other = other;
}

static void begin(void)
{
    reports = 0;
    last_what = NULL;
    spin_report = record;
}

HTEST(spin_lock_unlock_trylock)
{
    spinlock_t l = SPINLOCK_INIT("t", LOCK_LEVEL_TEST);
    begin();
    spin_lock(&l);
    CHECK(spin_held(&l));
    CHECK_EQ(this_cpu()->nlocks, 1);
    CHECK(!spin_trylock(&l) || false); /* recursion: reported, not taken */
    CHECK_EQ(reports, 1);
    spin_unlock(&l);
    CHECK(!spin_held(&l));
    CHECK_EQ(this_cpu()->nlocks, 0);
    CHECK(spin_trylock(&l));
    spin_unlock(&l);
    CHECK_EQ(l.next, l.owner);
    CHECK_EQ(reports, 1);
    spin_report = spin_report_panic;
}

HTEST(spin_recursion_and_order_reported)
{
    spinlock_t outer = SPINLOCK_INIT("outer", LOCK_LEVEL_TEST);
    spinlock_t inner = SPINLOCK_INIT("inner", LOCK_LEVEL_TEST_INNER);
    begin();
    spin_lock(&outer);
    spin_lock(&outer);
    CHECK_EQ(reports, 1);
    CHECK(strstr(last_what, "recursive") != NULL);
    spin_lock(&inner); /* the right order */
    CHECK_EQ(reports, 1);
    spin_unlock(&inner);
    spin_unlock(&outer);
    spin_lock(&inner);
    spin_lock(&outer); /* the wrong order */
    CHECK_EQ(reports, 2);
    CHECK(strstr(last_what, "order") != NULL);
    CHECK(!spin_held(&outer));
    spin_unlock(&inner);
    spin_unlock(&inner); /* nobody holds it now */
    CHECK_EQ(reports, 3);
    CHECK(strstr(last_what, "nobody") != NULL);
    spin_report = spin_report_panic;
}

/* The order check compares with the innermost lock only: after an unlock
 * out of order, the held locks must still be checked as a whole. */
HTEST(spin_order_checked_after_an_out_of_order_unlock)
{
    spinlock_t a = SPINLOCK_INIT("a", 10), b = SPINLOCK_INIT("b", 20);
    spinlock_t c = SPINLOCK_INIT("c", 30), d = SPINLOCK_INIT("d", 25);
    spinlock_t e = SPINLOCK_INIT("e", 40);
    begin();
    spin_lock(&a);
    spin_lock(&b);
    spin_lock(&c);
    spin_unlock(&b); /* a and c held, in order */
    CHECK_EQ(this_cpu()->nlocks, 2);
    CHECK_EQ(reports, 0);
    spin_lock(&d); /* 25 inside 30: reported, not taken */
    CHECK_EQ(reports, 1);
    CHECK(strstr(last_what, "order") != NULL);
    CHECK(!spin_held(&d));
    CHECK(!spin_trylock(&b)); /* 20 inside 30 */
    CHECK_EQ(reports, 2);
    spin_lock(&e); /* 40 inside 30: fine */
    CHECK_EQ(reports, 2);
    CHECK(spin_held(&e));
    spin_unlock(&c); /* a and e held */
    spin_lock(&d); /* 25 inside 40: reported */
    CHECK_EQ(reports, 3);
    spin_unlock(&e);
    spin_lock(&d); /* 25 inside 10: fine now */
    CHECK_EQ(reports, 3);
    CHECK(spin_held(&d));
    spin_unlock(&d);
    spin_unlock(&a);
    CHECK_EQ(this_cpu()->nlocks, 0);
    CHECK_EQ(reports, 3);
    spin_report = spin_report_panic;
}

HTEST(spin_default_report_panics)
{
    spinlock_t l = SPINLOCK_INIT("p", LOCK_LEVEL_TEST);
    spin_report = spin_report_panic;
    spin_lock(&l);
    CHECK(EXPECT_PANIC(spin_lock(&l)));
    CHECK(strstr(htest_panic_msg, "'p'") != NULL);
    spin_unlock(&l);
}

static spinlock_t shared = SPINLOCK_INIT("shared", LOCK_LEVEL_TEST);
static volatile long counter;
static volatile int inside, overlap;

static void *bumper(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        spin_lock(&shared);
        if (__atomic_fetch_add(&inside, 1, __ATOMIC_SEQ_CST))
            overlap = 1;
        long v = counter;
        counter = v + 1;
        __atomic_fetch_sub(&inside, 1, __ATOMIC_SEQ_CST);
        spin_unlock(&shared);
    }
    return NULL;
}

HTEST(spin_mutual_exclusion_threads)
{
    pthread_t t[2];
    counter = 0;
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, bumper, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(overlap, 0);
    CHECK_EQ(counter, 2 * 20000);
    CHECK_EQ(shared.next, shared.owner);
}

static void *unlock_other(void *arg)
{
    spin_unlock(arg); /* another "CPU": reported, nothing done */
    return NULL;
}

static volatile int holding, release_now;
static void record_and_release(const spinlock_t *l, const char *what, int other)
{
    record(l, what, other);
    release_now = 1;
}
static void *hold(void *arg)
{
    spin_lock(arg);
    holding = 1;
    while (!release_now)
        ;
    spin_unlock(arg);
    return NULL;
}

HTEST(spin_unlock_by_other_and_held_too_long)
{
    spinlock_t l = SPINLOCK_INIT("x", LOCK_LEVEL_TEST);
    begin();
    spin_lock(&l);
    pthread_t t;
    pthread_create(&t, NULL, unlock_other, &l);
    pthread_join(t, NULL);
    CHECK_EQ(reports, 1);
    CHECK(strstr(last_what, "does not hold") != NULL);
    CHECK_EQ(last_other, this_cpu()->index);
    CHECK(spin_held(&l));
    spin_unlock(&l);

    holding = release_now = 0;
    pthread_create(&t, NULL, hold, &l);
    while (!holding)
        ;
    uint64_t saved = spin_limit;
    spin_limit = 1000;
    reports = 0;
    spin_report = record_and_release; /* the holder lets go once we report */
    spin_lock(&l);                    /* reports once, then gets the lock */
    bool got = spin_held(&l);
    spin_unlock(&l);
    pthread_join(t, NULL);
    spin_limit = saved;
    spin_report = spin_report_panic;
    CHECK(got);
    CHECK_EQ(reports, 1);
    CHECK(strstr(last_what, "held too long") != NULL);
    CHECK(last_other != (int)this_cpu()->index && last_other >= 0);
}
