/* The heap and slab caches under ThreadSanitizer, threads standing in for
 * CPUs: kmalloc/kfree storms with cross-thread frees (larson-style: each
 * thread frees what its neighbour allocated), every object tagged with its
 * owner and a sequence so that a block handed out twice is caught, and the
 * statistics back to their start once the magazines are drained; a storm
 * on one shared slab cache; a double free caught while the first free sits
 * in another thread's magazine; the storm again with a thread contending
 * for the depots' locks, so that magazines grow and older ones retire
 * while the others trade. */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/kmalloc.h>
#include <pagoda/slab.h>

#include "../../src/mm/heap_internal.h" /* the depots, to contend for them */
#include "harness.h"
#include "heap_fixture.h"

#define NT 4
#define ROUNDS 200
#define BATCH 64
#define REGION (256ULL << 20)

static struct heap_region hr;

static void setup(int harden)
{
    heap_region_init(&hr, heap_fixture_region(REGION), REGION);
    kheap_init(&hr.src, harden);
}

struct tagged {
    uint64_t owner, seq, size;
};

/* One mailbox per thread: batches its left neighbour hands it. */
static struct box {
    pthread_mutex_t mu;
    void *items[BATCH];
    int n;
    bool full;
} boxes[NT];
static pthread_barrier_t bar;
static _Atomic unsigned errors;

static void check_tag(void *p, uint64_t owner, uint64_t seq, uint64_t size)
{
    struct tagged *t = p;
    if (t->owner != owner || t->seq != seq || t->size != size)
        errors++;
    uint8_t *b = p;
    for (size_t i = sizeof(*t); i < size; i++)
        if (b[i] != (uint8_t)(owner * 31 + seq))
            errors++;
}

static void *storm(void *arg)
{
    uint64_t me = (uintptr_t)arg, seq = 0;
    struct box *out = &boxes[(me + 1) % NT], *in = &boxes[me];
    uint64_t rng = me * 0x9e3779b97f4a7c15ULL + 1;
    pthread_barrier_wait(&bar);
    for (int r = 0; r < ROUNDS; r++) {
        void *batch[BATCH];
        for (int i = 0; i < BATCH; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t size = sizeof(struct tagged) + rng % (r % 4 == 3 ? 9000 : 600);
            struct tagged *t = kmalloc(size);
            if (!t) {
                errors++;
                continue;
            }
            memset(t, (uint8_t)(me * 31 + seq), size);
            *t = (struct tagged){me, seq++, size};
            batch[i] = t;
        }
        /* Hand the batch to the right neighbour; take ours from the left. */
        for (;;) {
            pthread_mutex_lock(&out->mu);
            if (!out->full) {
                memcpy(out->items, batch, sizeof(batch));
                out->full = true;
                pthread_mutex_unlock(&out->mu);
                break;
            }
            pthread_mutex_unlock(&out->mu);
            sched_yield();
        }
        for (;;) {
            pthread_mutex_lock(&in->mu);
            if (in->full) {
                memcpy(batch, in->items, sizeof(batch));
                in->full = false;
                pthread_mutex_unlock(&in->mu);
                break;
            }
            pthread_mutex_unlock(&in->mu);
            sched_yield();
        }
        for (int i = 0; i < BATCH; i++) {
            struct tagged *t = batch[i];
            check_tag(t, t->owner, t->seq, t->size); /* overwritten if handed out twice */
            kfree(t);
        }
    }
    return NULL;
}

static void run_threads(void *(*fn)(void *))
{
    pthread_t t[NT];
    pthread_barrier_init(&bar, NULL, NT);
    for (uintptr_t i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, fn, (void *)i);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL); /* each thread's magazines drain as it ends */
    pthread_barrier_destroy(&bar);
}

HTEST(mt_heap_cross_thread_storm)
{
    for (int harden = 0; harden <= 1; harden++) {
        setup(harden);
        struct kheap_stats a, b;
        kheap_stats(&a);
        errors = 0;
        run_threads(storm);
        CHECK_EQ(errors, 0);
        kheap_mag_drain();
        kheap_stats(&b);
        CHECK_EQ(b.live_bytes, a.live_bytes);
        CHECK_EQ(b.live_objects, a.live_objects);
        CHECK_EQ(b.mag_cached, 0);
        for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
            CHECK_EQ(b.cls[c].live, a.cls[c].live);
        CHECK_EQ(kheap_check(), 0);
    }
}

/* Takes the heap lock, which every refill and flush of a magazine takes,
 * and holds it until another thread waits for it (or a while passes), over
 * and over until the storm ends: the waits count as contention for the
 * waiter's class, however seldom big magazines trade. */
static _Atomic bool storm_over;
static void *contend(void *arg)
{
    UNUSED(arg);
    while (!storm_over) {
        spinlock_t *l = &kheap.lock;
        spin_lock(l);
        for (int i = 0; i < 2000 && !storm_over; i++) {
            if (__atomic_load_n(&l->next, __ATOMIC_ACQUIRE) -
                    __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) >= 2)
                break;
            sched_yield();
        }
        spin_unlock(l);
        sched_yield();
    }
    return NULL;
}

HTEST(mt_heap_storm_while_magazines_grow)
{
    setup(0);
    struct kheap_stats a, b;
    kheap_stats(&a);
    errors = 0;
    storm_over = false;
    pthread_t t;
    pthread_create(&t, NULL, contend, NULL);
    run_threads(storm);
    storm_over = true;
    pthread_join(t, NULL);
    CHECK_EQ(errors, 0);
    kheap_stats(&b);
    uint32_t grown = 0;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
        grown += b.cls[c].mag_grown;
    printk("storm with contention: %u capacity growths\n", grown);
    CHECK(grown > 0);
    kheap_mag_drain();
    kheap_stats(&b);
    CHECK_EQ(b.live_bytes, a.live_bytes);
    CHECK_EQ(b.mag_cached, 0);
    CHECK_EQ(b.mags, 0);
    CHECK_EQ(kheap_check(), 0);
}

static struct kmem_cache *shared;
static void *slab_storm(void *arg)
{
    uint64_t me = (uintptr_t)arg;
    pthread_barrier_wait(&bar);
    for (int r = 0; r < ROUNDS / 8; r++) {
        uint64_t *o[32];
        for (int i = 0; i < 32; i++) {
            o[i] = kmem_cache_alloc(shared);
            if (!o[i]) {
                errors++;
                continue;
            }
            o[i][0] = me, o[i][1] = (uint64_t)r * 32 + i;
        }
        for (int i = 0; i < 32; i++) {
            if (o[i] && (o[i][0] != me || o[i][1] != (uint64_t)r * 32 + i))
                errors++;
            kmem_cache_free(shared, o[i]);
        }
    }
    return NULL;
}

HTEST(mt_heap_slab_storm)
{
    setup(0);
    shared = kmem_cache_create("mt-shared", 48, 16, NULL, NULL);
    CHECK(shared != NULL);
    errors = 0;
    run_threads(slab_storm);
    CHECK_EQ(errors, 0);
    struct kmem_cache_stats st;
    kmem_cache_stats(shared, &st);
    CHECK_EQ(st.live, 0);
    CHECK_EQ(kmem_cache_check(shared), 0);
    kmem_cache_destroy(shared);
}

/* A block freed on another thread sits in that thread's magazine; a second
 * free here must still be caught. */
static void *hold_and_wait(void *arg)
{
    kfree(arg);
    pthread_barrier_wait(&bar); /* freed */
    pthread_barrier_wait(&bar); /* the main thread tried again */
    return NULL;
}

HTEST(mt_heap_double_free_in_another_threads_magazine)
{
    setup(0);
    void *p = kmalloc(100);
    pthread_t t;
    pthread_barrier_init(&bar, NULL, 2);
    pthread_create(&t, NULL, hold_and_wait, p);
    pthread_barrier_wait(&bar);
    CHECK(EXPECT_PANIC(kfree(p)));
    CHECK(strstr(htest_panic_msg, "double free") != NULL);
    pthread_barrier_wait(&bar);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&bar);
}
