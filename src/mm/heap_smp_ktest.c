/*
 * The heap and slab caches on every CPU at once (smp_call_all): cross-CPU
 * frees with owner tags, a kmalloc storm and a shared slab cache storm.
 * After each, every CPU drains its magazines and every heap and slab
 * counter must be back exactly where it started.
 */
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>
#include <pagoda/slab.h>
#include <pagoda/smp.h>
#include <pagoda/string.h>

#define CALL_MS 60000
#define PER_CPU 128
#define ROUNDS_WORK 80 /* rounds x CPUs: the same work on 2 CPUs or 8 */

static void *blocks[SMP_MAX_CPUS][PER_CPU];
static volatile unsigned arrived, errors, ncpu;

static unsigned rounds(void)
{
    return MAX(8u, ROUNDS_WORK / MAX(ncpu, 1u));
}

static void relax(void)
{
    __builtin_ia32_pause();
}

/* Every CPU waits here until all ncpu have reached step `n` (1, 2, ...). */
static void barrier(unsigned n)
{
    __atomic_add_fetch(&arrived, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) < n * ncpu)
        relax();
}

static void fail(void)
{
    __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
}

static size_t size_of(unsigned cpu, unsigned i, unsigned r)
{
    static const size_t sizes[] = {16, 24, 48, 100, 200, 256, 300, 512, 700, 1024, 1500,
                                   2048, 3000, 4096, 6000, 8192, 12000, 20000, 70000};
    return sizes[(cpu * 7 + i * 3 + r) % ARRAY_SIZE(sizes)];
}

static uint8_t pat(unsigned cpu, unsigned i, unsigned r)
{
    return (uint8_t)(cpu * 37 + i * 11 + r * 5 + 1);
}

static void drain(void *arg)
{
    UNUSED(arg);
    kheap_mag_drain();
}

struct snap {
    struct kheap_stats st;
};
static struct snap before, after;

/* Every CPU's magazines flushed, then the heap's figures. */
static bool snapshot(struct snap *s)
{
    if (smp_call_all(drain, NULL, CALL_MS) < 0)
        return false;
    kheap_stats(&s->st);
    return true;
}

static bool same(void)
{
    bool ok = after.st.live_bytes == before.st.live_bytes &&
              after.st.live_objects == before.st.live_objects && after.st.mag_cached == 0;
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
        ok = ok && after.st.cls[c].live == before.st.cls[c].live;
    if (!ok)
        printk("heap: live %zu -> %zu bytes, %zu -> %zu objects, %zu cached\n",
               before.st.live_bytes, after.st.live_bytes, before.st.live_objects,
               after.st.live_objects, after.st.mag_cached);
    return ok;
}

/* Each CPU allocates blocks over many classes, tags them with its index,
 * the index and the round, and hands them to the next CPU, which checks
 * every byte (a block handed out twice is overwritten by its second owner)
 * and frees them. */
static void cross(void *arg)
{
    UNUSED(arg);
    unsigned me = this_cpu()->index, n = ncpu, from = (me + n - 1) % n;
    for (unsigned r = 0, nr = rounds(); r < nr; r++) {
        for (unsigned i = 0; i < PER_CPU; i++) {
            size_t sz = size_of(me, i, r);
            uint8_t *p = kmalloc(sz);
            if (!p) {
                fail();
                continue;
            }
            memset(p, pat(me, i, r), sz);
            blocks[me][i] = p;
        }
        barrier(2 * r + 1);
        for (unsigned i = 0; i < PER_CPU; i++) {
            uint8_t *p = blocks[from][i];
            size_t sz = size_of(from, i, r);
            for (size_t j = 0; p && j < sz; j += 8)
                if (p[j] != pat(from, i, r))
                    fail();
            kfree(p);
            blocks[from][i] = NULL;
        }
        barrier(2 * r + 2);
    }
}

static int run_all(void (*fn)(void *))
{
    arrived = errors = 0;
    ncpu = smp_online();
    return smp_call_all(fn, NULL, CALL_MS);
}

KTEST(smp_kmalloc_cross_cpu_free)
{
    KT_ASSERT(snapshot(&before));
    KT_ASSERT_EQ(run_all(cross), (int)ncpu);
    KT_ASSERT_EQ(errors, 0);
    KT_ASSERT(snapshot(&after));
    KT_ASSERT(same());
    KT_ASSERT_EQ(kheap_check(), 0);
}

/* Big blocks of sizes that repeat on every CPU at once, so that each
 * CPU's big-block front keeps and reuses them (at level 0): each CPU tags
 * four blocks a round, frees half itself (its front, no lock) and hands
 * the rest to the next CPU, whose free takes the lock and drops them from
 * the owner's front while the owner goes on. A block handed out twice is
 * overwritten by its second owner. */
#define BIG_PER 4
#define BIG_ROUNDS 24 /* rounds x CPUs (light: each round grows and frees megabytes) */
static uint8_t *big_blocks[SMP_MAX_CPUS][BIG_PER];

static size_t big_size(unsigned r)
{
    /* List blocks (above the largest class), and one class above 64 KiB. */
    static const size_t sizes[] = {270000, 150000, 350000};
    return sizes[(r / 3) % ARRAY_SIZE(sizes)];
}

static bool big_intact(const uint8_t *p, size_t sz, uint8_t v)
{
    for (size_t j = 0; j < sz; j += 16384)
        if (p[j] != v)
            return false;
    return p[sz - 1] == v;
}

static void big_cross(void *arg)
{
    UNUSED(arg);
    unsigned me = this_cpu()->index, n = ncpu, from = (me + n - 1) % n;
    for (unsigned r = 0, nr = MAX(6u, BIG_ROUNDS / n); r < nr; r++) {
        size_t sz = big_size(r);
        for (unsigned i = 0; i < BIG_PER; i++) {
            uint8_t *p = kmalloc(sz);
            if (!p) {
                fail();
                continue;
            }
            for (size_t j = 0; j < sz; j += 16384)
                p[j] = pat(me, i, r);
            p[sz - 1] = pat(me, i, r);
            big_blocks[me][i] = p;
        }
        for (unsigned i = 0; i < BIG_PER; i += 2) { /* half on this CPU */
            uint8_t *p = big_blocks[me][i];
            if (p && !big_intact(p, sz, pat(me, i, r)))
                fail();
            kfree(p);
            big_blocks[me][i] = NULL;
        }
        barrier(2 * r + 1);
        for (unsigned i = 1; i < BIG_PER; i += 2) { /* the rest from the CPU before */
            uint8_t *p = big_blocks[from][i];
            if (p && !big_intact(p, sz, pat(from, i, r)))
                fail();
            kfree(p);
            big_blocks[from][i] = NULL;
        }
        barrier(2 * r + 2);
    }
}

KTEST(smp_kmalloc_big_blocks_cross_cpu)
{
    KT_ASSERT(snapshot(&before));
    KT_ASSERT_EQ(run_all(big_cross), (int)ncpu);
    KT_ASSERT_EQ(errors, 0);
    KT_ASSERT(snapshot(&after));
    KT_ASSERT(same());
    KT_ASSERT_EQ(after.st.big_kept_bytes, 0);
    KT_ASSERT_EQ(kheap_check(), 0);
}

/* Pairs and batches on every CPU at once, with frees of the previous
 * batch on a CPU other than the allocating one. */
static void storm(void *arg)
{
    UNUSED(arg);
    unsigned me = this_cpu()->index;
    uint64_t rng = me * 0x9e3779b97f4a7c15ULL + 7;
    for (unsigned r = 0, nr = rounds() * 4; r < nr; r++) {
        void *b[32];
        for (unsigned i = 0; i < 32; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t sz = 2 + rng % (i & 1 ? 4000 : 300);
            uint8_t *p = kmalloc(sz);
            if (!p) {
                fail();
                b[i] = NULL;
                continue;
            }
            p[0] = (uint8_t)me, p[sz - 1] = (uint8_t)r;
            kfree(kmalloc(sz / 2 + 1)); /* a pair */
            b[i] = p;
            if (p[0] != (uint8_t)me)
                fail();
        }
        for (unsigned i = 0; i < 32; i++)
            kfree(b[i]);
    }
}

KTEST(smp_kmalloc_storm)
{
    KT_ASSERT(snapshot(&before));
    KT_ASSERT_EQ(run_all(storm), (int)ncpu);
    KT_ASSERT_EQ(errors, 0);
    KT_ASSERT(snapshot(&after));
    KT_ASSERT(same());
    KT_ASSERT_EQ(kheap_check(), 0);
}

static struct kmem_cache *shared;

static void slab_storm(void *arg)
{
    UNUSED(arg);
    uint64_t me = this_cpu()->index;
    for (unsigned r = 0, nr = rounds() * 4; r < nr; r++) {
        uint64_t *o[24];
        for (unsigned i = 0; i < 24; i++) {
            o[i] = kmem_cache_alloc(shared);
            if (!o[i]) {
                fail();
                continue;
            }
            o[i][0] = me, o[i][1] = r * 24 + i;
        }
        for (unsigned i = 0; i < 24; i++) {
            if (o[i] && (o[i][0] != me || o[i][1] != r * 24 + i))
                fail();
            kmem_cache_free(shared, o[i]);
        }
    }
}

KTEST(smp_slab_storm)
{
    KT_ASSERT(snapshot(&before));
    shared = kmem_cache_create("smp_shared", 80, 16, NULL, NULL);
    KT_ASSERT(shared != NULL);
    KT_ASSERT_EQ(run_all(slab_storm), (int)ncpu);
    KT_ASSERT_EQ(errors, 0);
    struct kmem_cache_stats st;
    kmem_cache_stats(shared, &st);
    printk("  (%u CPUs: the cache's magazines grew %zu times, to %zu rounds)\n", ncpu,
           st.mag_grown, st.mag_cap);
    KT_ASSERT_EQ(st.live, 0);
    KT_ASSERT(st.mag_cap >= 4 && st.mag_cap <= 128);
    KT_ASSERT(ncpu > 1 || st.mag_grown == 0); /* nothing waits on one CPU */
    KT_ASSERT_EQ(kmem_cache_check(shared), 0);
    kmem_cache_destroy(shared);
    KT_ASSERT(snapshot(&after));
    KT_ASSERT(same());
}
