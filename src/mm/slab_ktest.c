/*
 * In-kernel tests of the slab caches over the real heap: constructor once,
 * objects back to their own slab, growth over many slabs, reap giving the
 * pages back to the PMM, destroy.
 */
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/pmm.h>
#include <pagoda/slab.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

static uint64_t free_pages_after_reap(void)
{
    kmem_cache_reap_all();
    kheap_trim();
    struct pmm_stats ps;
    pmm_get_stats(&ps);
    return ps.free_pages;
}

static size_t ctor_calls, dtor_calls;
static void ctor(void *p)
{
    *(uint64_t *)p = 0xc0ffee;
    ctor_calls++;
}
static void dtor(void *p)
{
    *(uint64_t *)p = 0xdead;
    dtor_calls++;
}

KTEST(slab_ctor_once_per_object)
{
    ctor_calls = dtor_calls = 0;
    struct kmem_cache *c = kmem_cache_create("kt_ctor", 40, 0, ctor, dtor);
    KT_ASSERT(c != NULL);
    uint64_t *o = kmem_cache_alloc(c);
    KT_ASSERT(o != NULL && *o == 0xc0ffee);
    struct kmem_cache_stats st;
    kmem_cache_stats(c, &st);
    KT_ASSERT_EQ(ctor_calls, st.per_slab);
    for (int i = 0; i < 100; i++) {
        kmem_cache_free(c, o);
        o = kmem_cache_alloc(c);
        KT_ASSERT_EQ(*o, 0xc0ffee);
    }
    KT_ASSERT_EQ(ctor_calls, st.per_slab);
    kmem_cache_free(c, o);
    KT_ASSERT_EQ(kmem_cache_reap(c), 1);
    KT_ASSERT_EQ(dtor_calls, st.per_slab);
    kmem_cache_destroy(c);
}

static void growth(size_t size, size_t n)
{
    uint64_t before = free_pages_after_reap();
    struct kmem_cache *c = kmem_cache_create("kt_grow", size, 0, NULL, NULL);
    KT_ASSERT(c != NULL);
    uint8_t **p = kcalloc(n, sizeof(*p));
    KT_ASSERT(p != NULL);
    for (size_t i = 0; i < n; i++) {
        p[i] = kmem_cache_alloc(c);
        KT_ASSERT(p[i] != NULL);
        memset(p[i], (uint8_t)i, size);
    }
    struct kmem_cache_stats st;
    kmem_cache_stats(c, &st);
    KT_ASSERT(st.slabs >= n / st.per_slab);
    KT_ASSERT_EQ(kmem_cache_check(c), 0);
    for (size_t i = 0; i < n; i++)
        KT_ASSERT(p[i][0] == (uint8_t)i && p[i][size - 1] == (uint8_t)i);
    for (size_t i = 0; i < n; i += 2)
        kmem_cache_free(c, p[i]);
    for (size_t i = 1; i < n; i += 2)
        kmem_cache_free(c, p[i]);
    kmem_cache_stats(c, &st);
    KT_ASSERT_EQ(st.live, 0);
    KT_ASSERT_EQ(kmem_cache_reap(c), st.slabs);
    kmem_cache_destroy(c);
    kfree(p);
    KT_ASSERT_EQ(free_pages_after_reap(), before);
    KT_ASSERT_EQ(kheap_check(), 0);
}

KTEST(slab_growth_onslab_10000)
{
    growth(64, 10000);
}
KTEST(slab_growth_offslab_2000)
{
    growth(1500, 2000);
}

KTEST(slab_object_returns_to_own_slab)
{
    struct kmem_cache *a = kmem_cache_create("kt_a", 64, 0, NULL, NULL);
    KT_ASSERT(a != NULL);
    void *keep = kmem_cache_alloc(a);
    static void *p[500]; /* 4 KiB: too big for a kernel stack frame */
    for (int i = 0; i < 500; i++)
        KT_ASSERT((p[i] = kmem_cache_alloc(a)) != NULL);
    for (int i = 499; i >= 0; i--)
        kmem_cache_free(a, p[i]);
    slab_mag_drain(); /* this CPU's magazines back to the slabs */
    struct kmem_cache_stats st;
    kmem_cache_stats(a, &st);
    KT_ASSERT_EQ(st.live, 1);
    KT_ASSERT_EQ(st.full, 0);
    KT_ASSERT_EQ(st.partial, 1); /* keep's slab; every other slab is empty */
    KT_ASSERT_EQ(kmem_cache_check(a), 0);
    kmem_cache_free(a, keep);
    kmem_cache_destroy(a);
}

KTEST(slab_vmm_ranges_use_a_cache)
{
    /* vmm_alloc's range descriptors come from the vmm_range cache once the
     * heap is up: many ranges at once go past the old fixed pool of 256. */
    void *r[300];
    int n = 0;
    for (; n < 300; n++)
        if (!(r[n] = vmm_alloc(PAGE_SIZE, VMM_WRITE | VMM_DEMAND)))
            break;
    int got = n;
    while (n-- > 0)
        vmm_free(r[n]);
    KT_ASSERT_EQ(got, 300);
    kmem_cache_print_info();
}
