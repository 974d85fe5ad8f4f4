/*
 * Host tests of the heap chain (src/mm/{bump,block,list,kmalloc}.c) over a
 * big host region, under ASan and UBSan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/errno.h>
#include <pagoda/kmalloc.h>
#include <pagoda/printk.h>

#include "harness.h"

#define REGION_BYTES (512ULL << 20)

static uint8_t *region;
static struct heap_region hr;

/* A fresh heap over `bytes` of the region at hardening level `harden`. */
static void setup(size_t bytes, int harden)
{
    if (!region) {
        region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (region == MAP_FAILED)
            abort();
    }
    heap_region_init(&hr, region, bytes);
    kheap_init(&hr.src, harden);
}

static size_t live_bytes(void)
{
    struct kheap_stats st;
    kheap_stats(&st);
    return st.live_bytes;
}

static size_t heap_bytes(void)
{
    struct kheap_stats st;
    kheap_stats(&st);
    return st.heap_bytes;
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

HTEST(heap_simple_allocation)
{
    setup(REGION_BYTES, 2);
    char *p = kmalloc(10);
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    memcpy(p, "123456789", 10);
    CHECK_EQ(kmalloc_usable_size(p), 10);
    CHECK_EQ(live_bytes(), 10);
    CHECK_EQ(kheap_check(), 0);
    kfree(p);
    CHECK_EQ(live_bytes(), 0);
    kfree(NULL);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_c_semantics)
{
    setup(REGION_BYTES, 1);
    void *a = kmalloc(0), *b = kmalloc(0);
    CHECK(a && b && a != b);
    kfree(a);
    kfree(b);
    CHECK(kcalloc(SIZE_MAX / 2, 3) == NULL);
    CHECK(kcalloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
    uint8_t *z = kcalloc(100, 7);
    CHECK(z != NULL);
    for (int i = 0; i < 700; i++)
        CHECK(z[i] == 0);
    z = krealloc(z, 0); /* frees, returns NULL */
    CHECK(z == NULL);
    char *r = krealloc(NULL, 5);
    CHECK(r != NULL);
    kfree(r);
    CHECK(kmalloc(SIZE_MAX) == NULL);
    CHECK(kmalloc_aligned(64, 24) == NULL); /* not a power of two */
    CHECK_EQ(live_bytes(), 0);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_string_by_realloc)
{
    setup(REGION_BYTES, 2);
    const char *parts[] = {"This", " is", " a", " string."};
    char *s = NULL;
    size_t len = 0;
    for (unsigned i = 0; i < 4; i++) {
        size_t n = strlen(parts[i]);
        s = krealloc(s, len + n + 1);
        CHECK(s != NULL);
        memcpy(s + len, parts[i], n + 1);
        len += n;
    }
    CHECK(strcmp(s, "This is a string.") == 0);
    kfree(s);
    CHECK_EQ(live_bytes(), 0);
}

HTEST(heap_vector_grown_by_realloc)
{
    setup(REGION_BYTES, 2);
    uint32_t *v = NULL;
    for (uint32_t n = 1; n <= 1000; n++) {
        v = krealloc(v, n * sizeof(*v));
        CHECK(v != NULL);
        v[n - 1] = n * 2654435761u;
        for (uint32_t i = 0; i < n; i += 97)
            CHECK_EQ(v[i], (i + 1) * 2654435761u);
    }
    for (uint32_t i = 0; i < 1000; i++)
        CHECK_EQ(v[i], (i + 1) * 2654435761u);
    CHECK_EQ(live_bytes(), 4000);
    CHECK_EQ(kheap_check(), 0);
    kfree(v);
    CHECK_EQ(live_bytes(), 0);
}

HTEST(heap_short_lived_boxes)
{
    setup(REGION_BYTES, 2);
    size_t before = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t *b = kmalloc(sizeof(*b));
        CHECK(b != NULL);
        *b = (uint64_t)i;
        CHECK_EQ(*b, (uint64_t)i);
        kfree(b);
        if (i == 0)
            before = heap_bytes();
    }
    CHECK_EQ(heap_bytes(), before); /* the same block over and over */
    CHECK_EQ(live_bytes(), 0);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_long_lived_box_across_many)
{
    setup(REGION_BYTES, 2);
    uint64_t *longlived = kmalloc(sizeof(*longlived));
    CHECK(longlived != NULL);
    *longlived = 0x1234;
    static void *boxes[10000];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10000; i++) {
            boxes[i] = kmalloc(8 + (size_t)(i % 200));
            CHECK(boxes[i] != NULL);
            memset(boxes[i], 0x77, 8);
        }
        for (int i = 0; i < 10000; i++)
            kfree(boxes[i]);
    }
    CHECK_EQ(*longlived, 0x1234);
    CHECK_EQ(live_bytes(), 8);
    CHECK_EQ(kheap_check(), 0);
    kfree(longlived);
    kheap_mag_drain(); /* the magazines' free blocks back to their spans */
    /* Only the kept-empty chunk of each class used survives. */
    struct kheap_stats st;
    kheap_stats(&st);
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
        CHECK(st.cls[c].chunks <= 1);
}

HTEST(heap_every_size_and_alignment)
{
    setup(REGION_BYTES, 1);
    for (size_t n = 1; n <= 65536; n++) {
        uint8_t *p = kmalloc(n);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
        CHECK(kmalloc_usable_size(p) >= n);
        p[0] = 1;
        p[n - 1] = 2;
        kfree(p);
    }
    /* Above 64 KiB, to past the largest class: each multiple of 16 and the
     * size after it (every class edge), at this level and at level 0. */
    for (int level = 1; level >= 0; level--) {
        if (level == 0)
            setup(REGION_BYTES, 0);
        for (size_t n = 65537; n <= KHEAP_SMALL_MAX + 4096; n += (n & 15) ? 15 : 1) {
            uint8_t *p = kmalloc(n);
            CHECK(p != NULL);
            CHECK(kmalloc_usable_size(p) >= n);
            p[0] = 1;
            p[n - 1] = 2;
            kfree(p);
        }
        CHECK_EQ(kheap_check(), 0);
    }
    setup(REGION_BYTES, 1);
    for (size_t align = 1; align <= 65536; align <<= 1) {
        for (size_t n = 1; n <= 65536; n = n < 64 ? n + 1 : n * 3 / 2) {
            uint8_t *p = kmalloc_aligned(n, align);
            CHECK(p != NULL);
            CHECK(((uintptr_t)p & (align - 1)) == 0);
            CHECK(((uintptr_t)p & 15) == 0);
            memset(p, 0xab, n);
            kfree(p);
        }
    }
    CHECK_EQ(live_bytes(), 0);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_double_free_detected)
{
    setup(REGION_BYTES, 1);
    void *small = kmalloc(40), *big = kmalloc(10000);
    void *keep = kmalloc(40); /* so the chunk of `small` is not given back */
    kfree(small);
    CHECK(EXPECT_PANIC(kfree(small)));
    CHECK(strstr(htest_panic_msg, "double free") != NULL);
    kfree(big);
    CHECK(EXPECT_PANIC(kfree(big)));
    CHECK(strstr(htest_panic_msg, "double free") != NULL);
    kfree(keep);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_double_free_detected_unhardened)
{
    setup(REGION_BYTES, 0);
    void *big = kmalloc(10000), *guard = kmalloc(10000);
    kfree(big);
    CHECK(EXPECT_PANIC(kfree(big)));
    kfree(guard);
}

HTEST(heap_invalid_free_detected)
{
    setup(REGION_BYTES, 1);
    int local;
    char *p = kmalloc(100), *q = kmalloc(5000);
    CHECK(EXPECT_PANIC(kfree(&local)));
    CHECK(strstr(htest_panic_msg, "never returned") != NULL);
    CHECK(EXPECT_PANIC(kfree(p + 1)));
    CHECK(EXPECT_PANIC(kfree(p + 32)));
    CHECK(EXPECT_PANIC(kfree(q + 512)));
    CHECK(strstr(htest_panic_msg, "at 0x") != NULL || strstr(htest_panic_msg, "at ") != NULL);
    kfree(p);
    kfree(q);
    CHECK_EQ(live_bytes(), 0);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_redzone_violation_detected)
{
    setup(REGION_BYTES, 1);
    char *p = kmalloc(20), *q = kmalloc(3000);
    p[20] = 'x'; /* one past the end */
    CHECK(kheap_check() != 0);
    CHECK(EXPECT_PANIC(kfree(p)));
    CHECK(strstr(htest_panic_msg, "redzone") != NULL);
    CHECK(strstr(htest_panic_msg, "size 20") != NULL);
    q[3001] = 'y';
    CHECK(EXPECT_PANIC(kfree(q)));
    CHECK(strstr(htest_panic_msg, "redzone") != NULL);
}

/* A stray write over a live block's header (its canary intact): kfree
 * would panic on it, so kheap_check must see it too. */
HTEST(heap_check_sees_a_live_header_overwritten)
{
    setup(REGION_BYTES, 1);
    char *a = kmalloc(48), *b = kmalloc(48), *big = kmalloc(5000);
    CHECK_EQ(kheap_check(), 0);
    uint64_t saved;
    memcpy(&saved, b - 8, 8);
    memset(b - 8, 0, 8); /* b's check word */
    CHECK(kheap_check() != 0);
    CHECK(EXPECT_PANIC(kfree(b)));
    memcpy(b - 8, &saved, 8);
    CHECK_EQ(kheap_check(), 0);
    memcpy(&saved, big - 8, 8);
    memset(big - 8, 0, 8);
    CHECK(kheap_check() != 0);
    CHECK(EXPECT_PANIC(kfree(big)));
    memcpy(big - 8, &saved, 8);
    CHECK_EQ(kheap_check(), 0);
    kfree(a);
    kfree(b);
    kfree(big);
    CHECK_EQ(live_bytes(), 0);
    CHECK_EQ(kheap_check(), 0);
}

/* The per-class capacity counts the blocks the chunks really hold: with
 * every block of a chunk in use, live equals capacity, at each level. */
HTEST(heap_class_capacity_matches_chunks)
{
    static void *p[4096];
    for (int harden = 0; harden <= 1; harden++) {
        setup(REGION_BYTES, harden);
        struct kheap_stats st;
        int n = 0;
        do { /* fill class 0 (16 bytes) until a second chunk appears */
            p[n++] = kmalloc(harden ? 8 : 16);
            kheap_stats(&st);
        } while (st.cls[0].chunks < 2 && n < 4096);
        CHECK_EQ(st.cls[0].chunks, 2);
        CHECK_EQ(st.cls[0].live, (uint64_t)n);
        CHECK(st.cls[0].live <= st.cls[0].capacity);
        /* The first chunk is full: its blocks are live or in this CPU's
         * magazine (a refill takes a magazine's worth at once). */
        CHECK(st.cls[0].live + st.cls[0].cached > st.cls[0].capacity / 2);
        while (n)
            kfree(p[--n]);
        CHECK_EQ(kheap_check(), 0);
    }
}

HTEST(heap_poison_violation_detected)
{
    setup(REGION_BYTES, 1);
    char *keep = kmalloc(64);
    char *p = kmalloc(64);
    kfree(p);
    p[12] = 1; /* write after free */
    CHECK(kheap_check() != 0);
    CHECK(EXPECT_PANIC(kmalloc(64))); /* LIFO: p is handed out next */
    CHECK(strstr(htest_panic_msg, "after free") != NULL);
    (void)keep;
    /* Level 2 checks the whole block. */
    setup(REGION_BYTES, 2);
    char *r = kmalloc(1000);
    kfree(r);
    r[900] = 1;
    CHECK(EXPECT_PANIC(kmalloc(1000)));
}

HTEST(heap_coalesce_and_trim)
{
    setup(REGION_BYTES, 1);
    /* List blocks: above the largest class. */
    size_t n = KHEAP_SMALL_MAX + 4464;
    void *a = kmalloc(n), *b = kmalloc(n), *c = kmalloc(n), *d = kmalloc(n);
    struct kheap_stats st0, st1;
    kheap_stats(&st0);
    kfree(a);
    kfree(c);
    kheap_release(true); /* big blocks freed lately wait in a cache: into the bins now */
    kheap_stats(&st1);
    CHECK_EQ(st1.list_free_blocks, st0.list_free_blocks + 2);
    kfree(b); /* merges with both neighbours */
    kheap_release(true);
    kheap_stats(&st1);
    CHECK_EQ(st1.list_free_blocks, st0.list_free_blocks + 1);
    kfree(d);
    CHECK_EQ(kheap_check(), 0);
    size_t base = heap_bytes();
    void *big = kmalloc(8 << 20);
    CHECK(big != NULL);
    CHECK(heap_bytes() >= base + (8 << 20));
    kfree(big); /* kept a while: the next pair of this size must not grow */
    kheap_stats(&st0);
    big = kmalloc(8 << 20);
    kheap_stats(&st1);
    CHECK_EQ(st1.grows, st0.grows);
    kfree(big);
    kheap_release(false); /* what the kernel does when frames run short */
    CHECK(heap_bytes() <= base + (256 << 10)); /* the tail went back */
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_chunks_returned)
{
    setup(REGION_BYTES, 1);
    static void *p[20000];
    size_t base = heap_bytes();
    for (int i = 0; i < 20000; i++)
        CHECK((p[i] = kmalloc(100)) != NULL);
    CHECK(heap_bytes() > base + 2000000);
    for (int i = 0; i < 20000; i++)
        kfree(p[i]);
    kheap_mag_drain();
    struct kheap_stats st;
    kheap_stats(&st);
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++)
        CHECK(st.cls[c].chunks <= 1);
    kheap_trim(); /* also the kept chunk, the page map's nodes, then the tail */
    kheap_stats(&st); /* map nodes above a decommitted free block stay */
    CHECK(heap_bytes() <= base + (st.map_nodes ? KiB(128) : 0));
    CHECK_EQ(base, 0);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_holes_do_not_slow_large)
{
    /* Not a timing test: checks that an allocation with many small holes
     * around still succeeds and that the holes stay separate free blocks. */
    setup(REGION_BYTES, 0);
    static void *p[800]; /* 200 MB of list blocks */
    for (int i = 0; i < 800; i++)
        CHECK((p[i] = kmalloc(KHEAP_SMALL_MAX + 100)) != NULL);
    for (int i = 0; i < 800; i += 2)
        kfree(p[i]);
    kheap_release(true); /* the cache of big blocks freed lately, into the bins */
    struct kheap_stats st;
    kheap_stats(&st);
    printk("holes: %zu free blocks\n", st.list_free_blocks);
    CHECK(st.list_free_blocks >= 400);
    void *big = kmalloc(1 << 20);
    CHECK(big != NULL);
    kfree(big);
    for (int i = 1; i < 800; i += 2)
        kfree(p[i]);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_exhaustion_returns_null)
{
    setup(1 << 20, 1);
    CHECK(kmalloc(2 << 20) == NULL);
    static void *p[4096];
    int n = 0;
    while (n < 4096 && (p[n] = kmalloc(1000)) != NULL)
        n++;
    CHECK(n > 500 && n < 4096);
    CHECK(kmalloc(100000) == NULL);
    CHECK_EQ(kheap_check(), 0);
    for (int i = 0; i < n; i++)
        kfree(p[i]);
    CHECK_EQ(live_bytes(), 0);
    CHECK((p[0] = kmalloc(500000)) != NULL);
    kfree(p[0]);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_bump_before_init)
{
    kheap_init(NULL, 1); /* no page source: the bump arena serves */
    struct kheap_stats st;
    kheap_stats(&st);
    size_t used = st.bump_used;
    char *p = kmalloc(100);
    CHECK(p != NULL && ((uintptr_t)p & 15) == 0);
    strcpy(p, "bump");
    char *a = kmalloc_aligned(10, 256);
    CHECK(a != NULL && ((uintptr_t)a & 255) == 0);
    kheap_stats(&st);
    CHECK(st.bump_used >= used + 116);
    CHECK(EXPECT_PANIC(kbump_alloc(KBUMP_SIZE + 1, 16)));
    CHECK(strstr(htest_panic_msg, "bump arena exhausted") != NULL);
    setup(REGION_BYTES, 1);
    kfree(p);                   /* recognised by address and ignored */
    char *q = krealloc(p, 200); /* moves to the heap, contents kept */
    CHECK(q != NULL && strcmp(q, "bump") == 0);
    CHECK_EQ(kmalloc_usable_size(q), 200);
    kfree(q);
    kfree(a);
    CHECK_EQ(live_bytes(), 0);
}

/* The reference model: random alloc/free/realloc/aligned against a table of
 * what should be there. */
struct slot {
    uint8_t *p;
    size_t n;
    uint8_t fill;
};

static size_t rand_size(void)
{
    switch (rnd() % 8) {
    case 0:
        return rnd() % 17;
    case 1:
    case 2:
    case 3:
        return 1 + rnd() % 256;
    case 4:
    case 5:
        return 1 + rnd() % 2048;
    case 6:
        return 1 + rnd() % 16384;
    default:
        return 1 + rnd() % 300000;
    }
}

static int cmp_slot(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

static bool model_run(int harden, int ops, unsigned nslots)
{
    int check_every = getenv("HEAP_CHECK_EVERY") ? atoi(getenv("HEAP_CHECK_EVERY")) : 2000;
    setup(REGION_BYTES, harden);
    struct slot *s = calloc(nslots, sizeof(*s));
    size_t expect_live = 0;
    bool ok = true;
    for (int op = 0; op < ops && ok; op++) {
        struct slot *x = &s[rnd() % nslots];
        if (x->p) {
            for (size_t i = 0; i < x->n; i++)
                if (x->p[i] != (uint8_t)(x->fill + i)) {
                    ok = false;
                    break;
                }
        }
        unsigned what = rnd() % 4;
        if (x->p && what < 2) {
            if (harden)
                expect_live -= x->n;
            kfree(x->p);
            x->p = NULL;
        } else if (x->p && what == 2) {
            size_t n = rand_size();
            uint8_t *q = krealloc(x->p, n);
            if (n == 0) { /* C semantics: freed, NULL back */
                if (q)
                    ok = false;
                if (harden)
                    expect_live -= x->n;
                x->p = NULL;
                continue;
            }
            if (!q)
                continue;
            if (harden)
                expect_live = expect_live - x->n + n;
            size_t keep = n < x->n ? n : x->n;
            x->p = q;
            x->n = n;
            for (size_t i = keep; i < n; i++)
                q[i] = (uint8_t)(x->fill + i);
        } else if (!x->p) {
            size_t n = rand_size(), align = 1;
            uint8_t *q;
            if (what == 3) {
                align = (size_t)1 << (rnd() % 13);
                q = kmalloc_aligned(n, align);
            } else {
                q = kmalloc(n);
            }
            if (!q || ((uintptr_t)q & (align - 1)) || ((uintptr_t)q & 15))
                ok = false;
            if (!q)
                break;
            x->p = q;
            x->n = n;
            x->fill = (uint8_t)rnd();
            for (size_t i = 0; i < n; i++)
                q[i] = (uint8_t)(x->fill + i);
            if (harden)
                expect_live += n;
        }
        if (harden && live_bytes() != expect_live)
            ok = false;
        if (op % check_every == 0) {
            if (kheap_check() != 0) {
                printk("model: check failed after op %d\n", op);
                ok = false;
            }
            /* No overlap: sort the live blocks by address. */
            struct slot *t = calloc(nslots, sizeof(*t));
            unsigned m = 0;
            for (unsigned i = 0; i < nslots; i++)
                if (s[i].p)
                    t[m++] = s[i];
            qsort(t, m, sizeof(*t), cmp_slot);
            for (unsigned i = 1; i < m; i++)
                if (t[i - 1].p + t[i - 1].n > t[i].p)
                    ok = false;
            free(t);
        }
    }
    for (unsigned i = 0; i < nslots; i++)
        kfree(s[i].p);
    if (live_bytes() != 0 || kheap_check() != 0)
        ok = false;
    free(s);
    return ok;
}

HTEST(heap_random_model_hardened)
{
    CHECK(model_run(1, 60000, 500));
    CHECK(model_run(2, 20000, 100));
}

HTEST(heap_random_model_plain)
{
    CHECK(model_run(0, 60000, 500));
}

HTEST(heap_footprint_random_mix)
{
    /* Footprint / live on a random 8..2048 mix (the benchmark's target is
     * <= 1.3; this only guards against a gross regression). */
    setup(REGION_BYTES, 0);
    static void *p[20000];
    static size_t n[20000];
    size_t live = 0, peak_live = 0;
    for (int i = 0; i < 200000; i++) {
        unsigned k = (unsigned)(rnd() % 20000);
        if (p[k]) {
            kfree(p[k]);
            live -= n[k];
            p[k] = NULL;
        } else {
            n[k] = 8 + rnd() % 2041;
            p[k] = kmalloc(n[k]);
            live += n[k];
            if (live > peak_live)
                peak_live = live;
        }
    }
    struct kheap_stats st;
    kheap_stats(&st);
    printk("footprint: peak heap %zu / peak live %zu = %zu.%02zu\n", st.peak_heap_bytes, peak_live,
           st.peak_heap_bytes / peak_live, st.peak_heap_bytes * 100 / peak_live % 100);
    CHECK(st.peak_heap_bytes * 10 <= peak_live * 14);
    for (int i = 0; i < 20000; i++)
        kfree(p[i]);
    CHECK_EQ(kheap_check(), 0);
}
