/*
 * In-kernel tests of the heap chain over the real page source (PMM frames
 * mapped by the VMM in the KHEAP region). The host tests cover the same
 * scenarios in depth, plus the panics (double and invalid free), which
 * here would end the run.
 */
#include <pagoda/errno.h>
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/slab.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

#include "../kern/kheap_source.h"

struct snap {
    uint64_t pmm_free;
    size_t live, objects, heap_bytes;
};

/* Counters after giving back everything the heap can give back. */
static void snap(struct snap *s)
{
    kmem_cache_reap_all();
    kheap_trim();
    struct pmm_stats ps;
    pmm_get_stats(&ps);
    static struct kheap_stats hs; /* static: the frame bound */
    kheap_stats(&hs);
    s->pmm_free = ps.free_pages;
    s->live = hs.live_bytes;
    s->objects = hs.live_objects;
    s->heap_bytes = hs.heap_bytes;
}

#define KT_ASSERT_BACK_TO(s0)                                                                      \
    do {                                                                                           \
        struct snap s1_;                                                                           \
        snap(&s1_);                                                                                \
        KT_ASSERT_EQ(s1_.live, (s0).live);                                                         \
        KT_ASSERT_EQ(s1_.objects, (s0).objects);                                                   \
        KT_ASSERT_EQ(s1_.heap_bytes, (s0).heap_bytes);                                             \
        KT_ASSERT_EQ(s1_.pmm_free, (s0).pmm_free);                                                 \
        KT_ASSERT_EQ(kheap_check(), 0);                                                            \
    } while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

KTEST(heap_simple_allocation)
{
    struct snap s0;
    snap(&s0);
    char *p = kmalloc(10);
    KT_ASSERT(p != NULL);
    KT_ASSERT(((uintptr_t)p & 15) == 0);
    KT_ASSERT((vaddr_t)p >= KHEAP_BASE && (vaddr_t)p < KHEAP_LIMIT);
    memcpy(p, "123456789", 10);
    KT_ASSERT(kmalloc_usable_size(p) >= 10);
    kfree(p);
    kfree(NULL);
    KT_ASSERT(kcalloc((size_t)1 << 40, (size_t)1 << 40) == NULL);
    KT_ASSERT_BACK_TO(s0);
}

KTEST(heap_vector_grown_by_realloc)
{
    struct snap s0;
    snap(&s0);
    uint32_t *v = NULL;
    for (uint32_t n = 1; n <= 1000; n++) {
        uint32_t *w = krealloc(v, n * sizeof(*v));
        KT_ASSERT(w != NULL);
        v = w;
        v[n - 1] = n * 2654435761u;
    }
    for (uint32_t i = 0; i < 1000; i++)
        KT_ASSERT_EQ(v[i], (i + 1) * 2654435761u);
    kfree(v);
    KT_ASSERT_BACK_TO(s0);
}

KTEST(heap_short_lived_boxes)
{
    struct snap s0;
    snap(&s0);
    for (int i = 0; i < 10000; i++) {
        uint64_t *b = kmalloc(sizeof(*b));
        KT_ASSERT(b != NULL);
        *b = (uint64_t)i;
        kfree(b);
    }
    KT_ASSERT_BACK_TO(s0);
}

KTEST(heap_long_lived_box_across_many)
{
    struct snap s0;
    snap(&s0);
    uint64_t *keep = kmalloc(sizeof(*keep));
    KT_ASSERT(keep != NULL);
    *keep = 0x1234;
    void **boxes = kcalloc(5000, sizeof(void *));
    KT_ASSERT(boxes != NULL);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            boxes[i] = kmalloc(8 + (size_t)(i % 300));
            KT_ASSERT(boxes[i] != NULL);
            memset(boxes[i], 0x77, 8);
        }
        for (int i = 0; i < 5000; i++)
            kfree(boxes[i]);
    }
    KT_ASSERT_EQ(*keep, 0x1234);
    kfree(boxes);
    kfree(keep);
    KT_ASSERT_BACK_TO(s0);
}

KTEST(heap_every_size_and_alignment)
{
    struct snap s0;
    snap(&s0);
    for (size_t n = 1; n <= 65536; n += n < 4096 ? 1 : 61) {
        uint8_t *p = kmalloc(n);
        KT_ASSERT(p != NULL && ((uintptr_t)p & 15) == 0);
        p[0] = 1;
        p[n - 1] = 2;
        kfree(p);
    }
    for (size_t align = 1; align <= 65536; align <<= 1) {
        for (size_t n = 1; n <= 65536; n = n * 3 + 1) {
            uint8_t *p = kmalloc_aligned(n, align);
            KT_ASSERT(p != NULL && ((uintptr_t)p & (align - 1)) == 0);
            memset(p, 0xab, n);
            kfree(p);
        }
    }
    KT_ASSERT_BACK_TO(s0);
}

KTEST(heap_growth_through_vmm)
{
    struct snap s0;
    snap(&s0);
    size_t n = MiB(4);
    uint8_t *p = kmalloc(n);
    KT_ASSERT(p != NULL);
    struct snap s1;
    snap(&s1);
    KT_ASSERT(s1.heap_bytes >= s0.heap_bytes + n);
    KT_ASSERT(s1.pmm_free + n / PAGE_SIZE <= s0.pmm_free);
    for (size_t off = 0; off < n; off += PAGE_SIZE) {
        paddr_t pa;
        unsigned flags;
        KT_ASSERT_EQ(vmm_translate((vaddr_t)p + off, &pa, &flags), 0);
        KT_ASSERT(flags & VMM_WRITE);
        p[off] = (uint8_t)(off >> 12);
    }
    for (size_t off = 0; off < n; off += PAGE_SIZE)
        KT_ASSERT_EQ(p[off], (uint8_t)(off >> 12));
    kfree(p);
    KT_ASSERT_BACK_TO(s0);
}

KTEST(heap_exhaustion_returns_null)
{
    struct snap s0;
    snap(&s0);
    /* More than the machine has: the grow maps until the PMM runs dry,
     * then undoes it all (skipped above 1 GiB free: too slow under TCG). */
    if (s0.pmm_free <= GiB(1) / PAGE_SIZE)
        KT_ASSERT(kmalloc((size_t)(s0.pmm_free + 64) * PAGE_SIZE) == NULL);
    KT_ASSERT(kmalloc(GiB(600)) == NULL);               /* more than the KHEAP region */
    KT_ASSERT(kmalloc_aligned(MiB(2), MiB(2)) == NULL); /* align above the limit */
    KT_ASSERT_BACK_TO(s0);
    /* A capped source: small allocations run out, return NULL, recover. */
    kheap_source_limit(s0.heap_bytes + MiB(1));
    void **p = kcalloc(4096, sizeof(void *));
    KT_ASSERT(p != NULL);
    int n = 0;
    while (n < 4096 && (p[n] = kmalloc(1000)) != NULL)
        n++;
    kheap_source_limit(0);
    KT_ASSERT(n > 100 && n < 4096);
    for (int i = 0; i < n; i++)
        kfree(p[i]);
    kfree(p);
    KT_ASSERT_BACK_TO(s0);
}

KTEST(heap_redzone_seen_by_check)
{
    uint8_t *p = kmalloc(24);
    KT_ASSERT(p != NULL);
    static struct kheap_stats st; /* static: the frame bound */
    kheap_stats(&st);
    if (st.harden) {
        uint8_t saved = p[24];
        p[24] ^= 0xff; /* one past the end: the canary */
        int rc = kheap_check();
        p[24] = saved;
        KT_ASSERT_EQ(rc, -E_CORRUPT);
    }
    KT_ASSERT_EQ(kheap_check(), 0);
    kfree(p);
}

KTEST(heap_random_mix_counters_return)
{
    struct snap s0;
    snap(&s0);
    enum { N = 1000 };
    uint8_t **p = kcalloc(N, sizeof(*p));
    size_t *n = kcalloc(N, sizeof(*n));
    KT_ASSERT(p && n);
    static struct kheap_stats st0, st; /* static: the frame bound */
    kheap_stats(&st0);
    size_t live = 0;
    for (int op = 0; op < 30000; op++) {
        unsigned k = (unsigned)(rnd() % N);
        if (p[k]) {
            KT_ASSERT_EQ(p[k][0], (uint8_t)k);
            KT_ASSERT_EQ(p[k][n[k] - 1], (uint8_t)k);
            if (rnd() & 1) {
                kfree(p[k]);
                p[k] = NULL;
                live -= n[k];
                continue;
            }
            size_t m = 1 + rnd() % 5000;
            uint8_t *q = krealloc(p[k], m);
            KT_ASSERT(q != NULL);
            KT_ASSERT_EQ(q[0], (uint8_t)k);
            live = live - n[k] + m;
            p[k] = q;
            n[k] = m;
        } else {
            n[k] = 1 + rnd() % (rnd() % 8 ? 2048 : 70000);
            p[k] = kmalloc(n[k]);
            KT_ASSERT(p[k] != NULL);
            live += n[k];
        }
        memset(p[k], (uint8_t)k, n[k]);
        if (st0.harden) {
            kheap_stats(&st);
            KT_ASSERT_EQ(st.live_bytes - st0.live_bytes, live);
        }
    }
    KT_ASSERT_EQ(kheap_check(), 0);
    for (int k = 0; k < N; k++)
        kfree(p[k]);
    kfree(p);
    kfree(n);
    KT_ASSERT_BACK_TO(s0);
}

KTEST(heap_stats_table)
{
    kheap_print_stats();
    KT_ASSERT_EQ(kheap_check(), 0);
}
