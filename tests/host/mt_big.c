/* The per-CPU fronts for big blocks (src/mm/heap_big.c) under
 * ThreadSanitizer, threads standing in for CPUs: two threads allocate big
 * blocks of sizes that repeat (so their fronts keep and reuse blocks), tag
 * each with its owner and a sequence, free half themselves and hand the
 * other half to the other thread, whose free takes the lock and drops the
 * entry from the owner's front while the owner goes on using it; a block
 * handed out twice is caught by its tag; afterwards the statistics are back
 * to their start. Then a race of two frees of the same block, one on each
 * thread, many times: exactly one may succeed, the other must be reported. */
#include <pthread.h>
#include <string.h>

#include <pagoda/kmalloc.h>

#include "harness.h"
#include "heap_fixture.h"

#define NT 2
#define ROUNDS 3000
#define REGION (512ULL << 20)

static struct heap_region hr;

static void setup(void)
{
    heap_region_init(&hr, heap_fixture_region(REGION), REGION);
    kheap_init(&hr.src, 0);
}

struct tagged {
    uint64_t owner, seq, size;
};

static const size_t sizes[] = {270000, 350000, 500000, 900000}; /* list blocks */

/* A one-slot mailbox per thread. */
static struct {
    pthread_mutex_t mu;
    struct tagged *item;
} box[NT] = {{PTHREAD_MUTEX_INITIALIZER, NULL}, {PTHREAD_MUTEX_INITIALIZER, NULL}};

static _Atomic int errors;
static pthread_barrier_t bar;

static void check_free(struct tagged *t, uint64_t owner, uint64_t seq)
{
    if (t->owner != owner || t->seq != seq || ((uint8_t *)t)[t->size - 1] != (uint8_t)seq)
        errors++;
    kfree(t);
}

static void *worker(void *arg)
{
    uint64_t me = (uintptr_t)arg;
    pthread_barrier_wait(&bar);
    for (uint64_t i = 0; i < ROUNDS; i++) {
        size_t n = sizes[(i / 64) % 4]; /* runs of one size: the fronts keep blocks */
        struct tagged *t = kmalloc(n);
        if (!t) {
            errors++;
            continue;
        }
        *t = (struct tagged){me, i, n};
        ((uint8_t *)t)[n - 1] = (uint8_t)i;
        if (i % 2) {
            check_free(t, me, i);
            continue;
        }
        /* Hand it over; free what the other thread handed us. */
        struct tagged *in = NULL;
        pthread_mutex_lock(&box[1 - me].mu);
        struct tagged *old = box[1 - me].item;
        box[1 - me].item = t;
        pthread_mutex_unlock(&box[1 - me].mu);
        if (old)
            kfree(old); /* never taken by the other thread: ours to drop */
        pthread_mutex_lock(&box[me].mu);
        in = box[me].item;
        box[me].item = NULL;
        pthread_mutex_unlock(&box[me].mu);
        if (in)
            check_free(in, 1 - me, in->seq);
    }
    return NULL;
}

HTEST(mt_big_cross_thread_frees_keep_blocks_right)
{
    setup();
    struct kheap_stats a, b;
    kheap_stats(&a);
    errors = 0;
    pthread_barrier_init(&bar, NULL, NT);
    pthread_t t[NT];
    for (uintptr_t i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL); /* each thread's front drains as it ends */
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < NT; i++)
        if (box[i].item) {
            kfree(box[i].item);
            box[i].item = NULL;
        }
    CHECK_EQ(errors, 0);
    kheap_mag_drain();
    kheap_stats(&b);
    CHECK_EQ(b.live_bytes, a.live_bytes);
    CHECK_EQ(b.live_objects, a.live_objects);
    CHECK_EQ(b.big_kept_bytes, 0);
    /* (list_used_blocks is not compared: how the heap grew, and so the
     * page-map nodes it took from the list, depends on the interleaving.) */
    CHECK_EQ(kheap_check(), 0);
}

/* Two frees of one block at once, one on the thread whose front holds it
 * (the exchange) and one on another (the locked compare-and-swap), many
 * times: exactly one free of each pair may succeed, the other must be
 * reported as a double free (each thread expects its own panic). */
static void *volatile race_block;
static _Atomic int refused, other;

static void race_one(void)
{
    if (EXPECT_PANIC(kfree(race_block))) {
        if (strstr(htest_panic_msg, "double free") || strstr(htest_panic_msg, "never returned"))
            refused++;
        else
            other++;
    }
}

static void *race_free(void *arg)
{
    UNUSED(arg);
    pthread_barrier_wait(&bar);
    race_one();
    return NULL;
}

HTEST(mt_big_racing_double_free_is_refused_once)
{
    setup();
    for (int i = 0; i < 40; i++) /* the front learns the size */
        kfree(kmalloc(400000));
    int pairs = 1000;
    refused = other = 0;
    for (int i = 0; i < pairs; i++) {
        race_block = kmalloc(400000);
        pthread_barrier_init(&bar, NULL, 2);
        pthread_t t;
        pthread_create(&t, NULL, race_free, NULL);
        pthread_barrier_wait(&bar);
        race_one();
        pthread_join(t, NULL);
        pthread_barrier_destroy(&bar);
    }
    printk("racing double frees: %d pairs, %d refused\n", pairs, (int)refused);
    CHECK_EQ(other, 0);
    CHECK_EQ(refused, pairs);
    kheap_mag_drain();
    CHECK_EQ(kheap_check(), 0);
}
