/*
 * Host tests of the slab caches (src/mm/slab.c) over the heap, under ASan
 * and UBSan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <pagoda/kmalloc.h>
#include <pagoda/slab.h>

#include "../../src/mm/slab_internal.h" /* struct kmem_cache: its lock */
#include "harness.h"
#include "lock_holder.h"

#define REGION_BYTES (256ULL << 20)

static uint8_t *region;
static struct heap_region hr;

static void setup(void)
{
    if (!region) {
        region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (region == MAP_FAILED)
            abort();
    }
    heap_region_init(&hr, region, REGION_BYTES);
    kheap_init(&hr.src, 2);
}

static size_t heap_bytes(void)
{
    struct kheap_stats st;
    kheap_stats(&st);
    return st.heap_bytes;
}

struct obj {
    uint64_t magic;
    uint32_t ctor_runs;
    uint8_t pad[44];
};

static size_t ctor_calls, dtor_calls;

static void obj_ctor(void *p)
{
    struct obj *o = p;
    o->magic = 0xc0ffee;
    o->ctor_runs++; /* fresh memory is not zeroed: count from the magic */
    ctor_calls++;
}

static void obj_dtor(void *p)
{
    struct obj *o = p;
    o->magic = 0xdead;
    dtor_calls++;
}

HTEST(slab_ctor_once_per_object)
{
    setup();
    ctor_calls = dtor_calls = 0;
    struct kmem_cache *c = kmem_cache_create("obj", sizeof(struct obj), 0, obj_ctor, obj_dtor);
    CHECK(c != NULL);
    struct obj *o = kmem_cache_alloc(c);
    CHECK(o != NULL);
    CHECK_EQ(o->magic, 0xc0ffee);
    struct kmem_cache_stats st;
    kmem_cache_stats(c, &st);
    size_t per = st.per_slab;
    CHECK(per >= 8);
    CHECK_EQ(ctor_calls, per); /* the whole slab, once */
    for (int round = 0; round < 100; round++) {
        kmem_cache_free(c, o);
        o = kmem_cache_alloc(c);
        CHECK_EQ(o->magic, 0xc0ffee);
    }
    CHECK_EQ(ctor_calls, per); /* no more constructor runs while cached */
    kmem_cache_free(c, o);
    CHECK_EQ(kmem_cache_reap(c), 1);
    CHECK_EQ(dtor_calls, per);
    kmem_cache_destroy(c);
}

static void growth_and_reap(size_t size, size_t align)
{
    setup();
    size_t base = heap_bytes();
    struct kmem_cache *c = kmem_cache_create("grow", size, align, NULL, NULL);
    CHECK(c != NULL);
    enum { N = 10000 };
    static uint8_t *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = kmem_cache_alloc(c);
        CHECK(p[i] != NULL);
        CHECK(((uintptr_t)p[i] & ((align ? align : 16) - 1)) == 0);
        memset(p[i], (uint8_t)i, size);
    }
    struct kmem_cache_stats st;
    kmem_cache_stats(c, &st);
    CHECK(st.slabs >= N / st.per_slab);
    CHECK_EQ(st.live, N);
    CHECK_EQ(kmem_cache_check(c), 0);
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < size; k += 7)
            CHECK(p[i][k] == (uint8_t)i); /* no two objects overlap */
    for (int i = 0; i < N; i += 2)
        kmem_cache_free(c, p[i]);
    CHECK_EQ(kmem_cache_check(c), 0);
    for (int i = 1; i < N; i += 2)
        kmem_cache_free(c, p[i]);
    slab_mag_drain(); /* the magazines' objects back to their slabs */
    kmem_cache_stats(c, &st);
    CHECK_EQ(st.live, 0);
    CHECK_EQ(st.empty, st.slabs);
    CHECK_EQ(kmem_cache_reap(c), st.slabs);
    kmem_cache_stats(c, &st);
    CHECK_EQ(st.slabs, 0);
    CHECK_EQ(kheap_check(), 0);
    kmem_cache_destroy(c);
    kheap_trim();
    /* The pages went back; the page map's nodes may stay, when they sit
     * above a free block whose pages are decommitted (not held). */
    struct kheap_stats hs;
    kheap_stats(&hs);
    CHECK(heap_bytes() <= base + (hs.map_nodes ? KiB(128) : 0));
}

HTEST(slab_growth_onslab_10000)
{
    growth_and_reap(48, 0);
}
HTEST(slab_growth_onslab_aligned)
{
    growth_and_reap(100, 64);
}
HTEST(slab_growth_offslab_10000)
{
    growth_and_reap(1500, 0);
}
HTEST(slab_growth_offslab_page_aligned)
{
    growth_and_reap(4096, 4096);
}
HTEST(slab_growth_tiny)
{
    growth_and_reap(8, 8);
}

HTEST(slab_object_returns_to_own_slab)
{
    setup();
    struct kmem_cache *a = kmem_cache_create("a", 64, 0, NULL, NULL);
    struct kmem_cache *b = kmem_cache_create("b", 64, 0, NULL, NULL);
    struct kmem_cache *big = kmem_cache_create("big", 2000, 0, NULL, NULL);
    void *x = kmem_cache_alloc(a), *y = kmem_cache_alloc(b), *z = kmem_cache_alloc(big);
    CHECK(x && y && z);
    CHECK(EXPECT_PANIC(kmem_cache_free(b, x)));
    CHECK(EXPECT_PANIC(kmem_cache_free(big, x)));
    CHECK(EXPECT_PANIC(kmem_cache_free(a, z)));
    /* Fill many slabs of a, free in reverse: every slab ends empty. */
    static void *p[1000];
    for (int i = 0; i < 1000; i++)
        p[i] = kmem_cache_alloc(a);
    for (int i = 999; i >= 0; i--)
        kmem_cache_free(a, p[i]);
    slab_mag_drain();
    struct kmem_cache_stats st;
    kmem_cache_stats(a, &st);
    CHECK_EQ(st.live, 1);
    CHECK_EQ(st.partial, 1);
    CHECK_EQ(st.full, 0);
    CHECK_EQ(kmem_cache_check(a), 0);
    kmem_cache_free(a, x);
    kmem_cache_free(b, y);
    kmem_cache_free(big, z);
    kmem_cache_destroy(a);
    kmem_cache_destroy(b);
    kmem_cache_destroy(big);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(slab_double_and_invalid_free_detected)
{
    setup();
    struct kmem_cache *s = kmem_cache_create("small", 32, 0, NULL, NULL);
    struct kmem_cache *l = kmem_cache_create("large", 1024, 0, NULL, NULL);
    uint8_t *a = kmem_cache_alloc(s), *b = kmem_cache_alloc(l);
    kmem_cache_free(s, a);
    CHECK(EXPECT_PANIC(kmem_cache_free(s, a)));
    kmem_cache_free(l, b);
    CHECK(EXPECT_PANIC(kmem_cache_free(l, b)));
    a = kmem_cache_alloc(s);
    b = kmem_cache_alloc(l);
    CHECK(EXPECT_PANIC(kmem_cache_free(s, a + 8)));
    CHECK(EXPECT_PANIC(kmem_cache_free(l, b + 8)));
    int local;
    CHECK(EXPECT_PANIC(kmem_cache_free(s, &local)));
    CHECK(EXPECT_PANIC(kmem_cache_destroy(s))); /* a is still out */
    kmem_cache_free(s, a);
    kmem_cache_free(l, b);
    CHECK_EQ(kmem_cache_check(s), 0);
    CHECK_EQ(kmem_cache_check(l), 0);
    kmem_cache_destroy(s);
    kmem_cache_destroy(l);
}

HTEST(slab_bad_arguments)
{
    setup();
    CHECK(kmem_cache_create("x", 0, 0, NULL, NULL) == NULL);
    CHECK(kmem_cache_create("x", 16, 3, NULL, NULL) == NULL);
    CHECK(kmem_cache_create("x", 16, 8192, NULL, NULL) == NULL);
    kmem_cache_free(NULL, NULL);
}

HTEST(slab_random_against_model)
{
    setup();
    struct kmem_cache *c[3] = {
        kmem_cache_create("r24", 24, 8, NULL, NULL),
        kmem_cache_create("r200", 200, 0, NULL, NULL),
        kmem_cache_create("r3000", 3000, 0, NULL, NULL),
    };
    static struct {
        uint8_t *p;
        unsigned c;
        uint8_t v;
    } slot[2000];
    uint64_t r = 12345;
    for (int op = 0; op < 100000; op++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned k = (unsigned)(r >> 33) % 2000;
        if (slot[k].p) {
            CHECK(slot[k].p[0] == slot[k].v && slot[k].p[23] == slot[k].v);
            kmem_cache_free(c[slot[k].c], slot[k].p);
            slot[k].p = NULL;
        } else {
            slot[k].c = (unsigned)(r >> 20) % 3;
            slot[k].v = (uint8_t)(r >> 40);
            slot[k].p = kmem_cache_alloc(c[slot[k].c]);
            CHECK(slot[k].p != NULL);
            memset(slot[k].p, slot[k].v, 24);
        }
        if (op % 10000 == 0)
            for (int i = 0; i < 3; i++)
                CHECK_EQ(kmem_cache_check(c[i]), 0);
        if (op % 25000 == 0)
            kmem_cache_reap_all();
    }
    kmem_cache_print_info();
    for (int k = 0; k < 2000; k++)
        if (slot[k].p)
            kmem_cache_free(c[slot[k].c], slot[k].p);
    for (int i = 0; i < 3; i++)
        kmem_cache_destroy(c[i]);
    CHECK_EQ(kheap_check(), 0);
}

/* Slab magazines grow with contention, as the heap's do: a thread that
 * holds the cache's lock until the main thread waits for it makes every
 * wait deterministic; on one thread alone nothing grows. */
static struct kmem_cache *held_cache;
static _Atomic int holds_left;

static void *hold_cache(void *arg)
{
    (void)arg;
    lock_hold_until_waited(&held_cache->lock, &holds_left);
    return NULL;
}

static void slab_cycle(struct kmem_cache *c, int n)
{
    static void *p[512];
    for (int i = 0; i < n; i++) {
        p[i] = kmem_cache_alloc(c);
        memset(p[i], i, 64);
    }
    for (int i = 0; i < n; i++)
        kmem_cache_free(c, p[i]);
}

HTEST(slab_magazines_grow_only_when_contended)
{
    setup();
    struct kmem_cache *c = kmem_cache_create("grow64", 64, 0, NULL, NULL);
    CHECK(c != NULL);
    struct kmem_cache_stats st;
    kmem_cache_stats(c, &st);
    size_t cap0 = st.mag_cap;
    CHECK_EQ(cap0, 32); /* 2 KiB of 64-byte objects */
    for (int i = 0; i < 2000; i++) /* one thread: many depot trips, no waits */
        slab_cycle(c, 256);
    kmem_cache_stats(c, &st);
    CHECK_EQ(st.mag_cap, cap0);
    CHECK_EQ(st.mag_grown, 0);
    held_cache = c;
    holds_left = 32;
    pthread_t t;
    pthread_create(&t, NULL, hold_cache, NULL);
    for (int i = 0; i < 100000 && holds_left > 0; i++)
        slab_cycle(c, 256);
    holds_left = 0;
    pthread_join(t, NULL);
    slab_cycle(c, 512); /* magazines of the grown size; the old ones retire */
    kmem_cache_stats(c, &st);
    CHECK(st.mag_grown >= 1);
    CHECK(st.mag_cap > cap0);
    CHECK(st.mag_cap <= 128); /* 8 KiB of objects */
    CHECK(st.cached > cap0 * 2); /* the bigger magazines are in use */
    CHECK_EQ(kmem_cache_check(c), 0);
    /* A double free is still caught in a grown magazine. */
    void *p = kmem_cache_alloc(c);
    kmem_cache_free(c, p);
    CHECK(EXPECT_PANIC(kmem_cache_free(c, p)));
    kmem_cache_destroy(c);
    CHECK_EQ(kheap_check(), 0);
}
