/* The heap's page map (src/mm/heap_map.c): the window anchored where the
 * first leaf was made answers for the spans there, the three-level tree for
 * spans far away, both through chunk_of; the window's entries are the
 * tree's own leaves, cleared when kheap_trim frees one. The source here has
 * two regions 256 GiB apart, so the second lies outside any window. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/errno.h>
#include <pagoda/kmalloc.h>

#include "../../src/mm/heap_internal.h" /* chunk_of and the window */
#include "harness.h"

#define AREA   (64ULL << 20)
#define APART  (256ULL << 30)

struct two {
    struct heap_source src;
    uint8_t *base[2];
    size_t used[2];
    int cur; /* the region grows come from */
};
static struct two two;

static void *two_grow(struct heap_source *s, size_t bytes)
{
    struct two *t = (struct two *)s;
    if (t->used[t->cur] + bytes > AREA)
        return NULL;
    void *p = t->base[t->cur] + t->used[t->cur];
    t->used[t->cur] += bytes;
    return p;
}

static void two_shrink(struct heap_source *s, void *p, size_t bytes)
{
    (void)s, (void)p, (void)bytes;
}

/* Both regions, reserved once; false if the host will not place the second
 * that far (then the test says so and checks the window alone). */
static bool two_setup(void)
{
    if (!two.base[0]) {
        void *a = mmap(NULL, AREA, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (a == MAP_FAILED)
            abort();
        two.base[0] = a;
        for (uint64_t off = APART; off <= 8 * APART && !two.base[1]; off += APART) {
            void *want = (uint8_t *)a - off; /* below: mmap hands out top-down */
            void *b = mmap(want, AREA, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
                           -1, 0);
            if (b == want)
                two.base[1] = b;
            else if (b != MAP_FAILED)
                munmap(b, AREA);
        }
    }
    memset(two.used, 0, sizeof(two.used));
    two.cur = 0;
    two.src = (struct heap_source){.grow = two_grow, .shrink = two_shrink};
    kheap_init(&two.src, 0);
    return two.base[1] != NULL;
}

static bool in_span(const struct chunk *ch, const void *p)
{
    return ch && (uintptr_t)p >= ch->base && (uintptr_t)p < ch->limit;
}

HTEST(heap_map_window_and_tree_both_find_spans)
{
    bool far = two_setup();
    struct heap *h = &kheap;
    CHECK_EQ(h->win_base, MAP_WIN_NONE);
    void *a[64], *b[64];
    for (int i = 0; i < 64; i++)
        a[i] = kmalloc(48 + (size_t)i * 40); /* a span per class, in region 0 */
    CHECK_EQ(h->win_base, ALIGN_DOWN((uintptr_t)two.base[0], MAP_LEAF_BYTES));
    for (int i = 0; i < 64; i++) {
        uintptr_t w = ((uintptr_t)a[i] - h->win_base) >> CHUNK_SHIFT;
        CHECK(w < (uintptr_t)MAP_FAN * MAP_FAN); /* looked up in the window */
        CHECK(in_span(chunk_of(h, a[i]), a[i]));
    }
    if (!far) {
        printf("  (no region 256 GiB away: the tree's side not checked)\n");
    } else {
        /* Region 0 refuses from now on: the next spans come from region 1. */
        two.cur = 1;
        for (int i = 0; i < 64; i++)
            b[i] = kmalloc(3000 + (size_t)i * 200); /* new classes: new spans */
        int outside = 0;
        for (int i = 0; i < 64; i++) {
            CHECK(in_span(chunk_of(h, b[i]), b[i]));
            outside += (uintptr_t)b[i] >= (uintptr_t)two.base[1] &&
                       (uintptr_t)b[i] < (uintptr_t)two.base[1] + AREA;
        }
        CHECK(outside > 0);
        for (int i = 0; i < 64; i++)
            if ((uintptr_t)b[i] - (uintptr_t)two.base[1] < AREA) {
                uintptr_t w = ((uintptr_t)b[i] - h->win_base) >> CHUNK_SHIFT;
                CHECK(w >= (uintptr_t)MAP_FAN * MAP_FAN); /* the tree answered */
            }
        /* A double free is caught through the tree too. */
        volatile int k = 0;
        while ((uintptr_t)b[k] - (uintptr_t)two.base[1] >= AREA)
            k++;
        kfree(b[k]);
        CHECK(EXPECT_PANIC(kfree(b[k])));
        CHECK(strstr(htest_panic_msg, "double free") != NULL);
        b[k] = NULL;
        for (int i = 0; i < 64; i++)
            kfree(b[i]);
    }
    for (int i = 0; i < 64; i++)
        kfree(a[i]);
    CHECK_EQ(kheap_check(), 0);
}

HTEST(heap_map_trim_clears_the_window)
{
    two_setup();
    struct heap *h = &kheap;
    void *p = kmalloc(100);
    CHECK(h->win_base != MAP_WIN_NONE);
    unsigned slot = (unsigned)(((uintptr_t)p - h->win_base) / MAP_LEAF_BYTES);
    const struct hmap_leaf *l = h->win[slot];
    CHECK(in_span(chunk_of(h, p), p));
    kfree(p);
    kheap_trim(); /* every span goes, and with them every leaf that maps nothing */
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK_EQ(st.map_nodes, 0);
    CHECK(h->win[slot] != l); /* the freed leaf is no longer in the window */
    CHECK(chunk_of(h, p) == NULL);
    void *q = kmalloc(100); /* a new span: its new leaf is in the window again */
    CHECK(h->win[slot] != NULL && in_span(chunk_of(h, q), q));
    kfree(q);
    CHECK_EQ(kheap_check(), 0);
}

/* kfree looks in the window before it checks the heap's bounds; outside
 * the window the bounds come first, because the tree's keys drop the top
 * 16 bits. A pointer that differs from a live block only there (not a
 * canonical address) must be reported, never freed through the tree; and a
 * pointer in the window that is in no span (past the heap's spans, and
 * past its bounds) must be reported too. */
HTEST(heap_map_kfree_of_an_alias_or_a_window_gap_is_refused)
{
    bool far = two_setup();
    struct heap *h = &kheap;
    void *a = kmalloc(64);
    CHECK(in_span(chunk_of(h, a), a));
    /* In the window, past everything the heap has: no span there. */
    uint8_t *gap = two.base[0] + AREA - 4096;
    CHECK(chunk_of(h, gap) == NULL);
    CHECK(EXPECT_PANIC(kfree(gap)));
    CHECK(strstr(htest_panic_msg, "never returned") != NULL);
    if (!far) {
        printf("  (no region 256 GiB away: the tree's side not checked)\n");
    } else {
        two.cur = 1;
        void *q[64], *b = NULL;
        for (int i = 0; i < 64; i++) {
            q[i] = kmalloc(3000 + (size_t)i * 200);
            if (!b && (uintptr_t)q[i] - (uintptr_t)two.base[1] < AREA)
                b = q[i];
        }
        CHECK(b != NULL);
        CHECK(in_span(chunk_of(h, b), b));
        void *alias = (void *)((uintptr_t)b ^ (0xffffULL << 48));
        CHECK(EXPECT_PANIC(kfree(alias)));
        CHECK(strstr(htest_panic_msg, "never returned") != NULL);
        for (int i = 0; i < 64; i++)
            kfree(q[i]); /* b among them: still live, the alias freed nothing */
    }
    kfree(a);
    CHECK_EQ(kheap_check(), 0);
}

/* kfree's fast path takes a span's class and block-start test from the
 * page map's copies, not the descriptor: a span given back, pooled and
 * made again for another class must have its copies rewritten (a stale
 * class would push the block into the old class's magazine), and
 * kheap_check must notice a copy that disagrees with the descriptor. */
HTEST(heap_map_fast_copies_follow_a_span_into_another_class)
{
    two_setup();
    struct heap *h = &kheap;
    enum { N = 2000 };
    static void *a[N];
    static uintptr_t bases[N];
    size_t nb = 0;
    for (int i = 0; i < N; i++) {
        a[i] = kmalloc(64);
        const struct chunk *ch = chunk_of(h, a[i]);
        CHECK(ch && map_unit_current(h, ch, 0));
        if (nb == 0 || bases[nb - 1] != ch->base)
            bases[nb++] = ch->base;
    }
    CHECK_EQ(kheap_check(), 0);
    for (int i = 0; i < N; i++)
        kfree(a[i]);
    kheap_mag_drain(); /* the blocks back to their spans: the empty ones to the pool */
    CHECK(h->npool > 0);
    /* The pool's spans come back for 1,000-byte blocks. */
    void *reused = NULL;
    for (int i = 0; i < N && !reused; i++) {
        a[i] = kmalloc(1000);
        const struct chunk *ch = chunk_of(h, a[i]);
        CHECK(ch && map_unit_current(h, ch, 0));
        for (size_t b = 0; b < nb; b++)
            if (ch->base == bases[b])
                reused = a[i];
        if (reused)
            for (int j = 0; j <= i; j++)
                if (a[j] != reused)
                    kfree(a[j]);
    }
    CHECK(reused != NULL);
    /* Its free lands in the 1,000-byte magazine: the next such block. */
    kfree(reused);
    void *again = kmalloc(1000);
    CHECK(again == reused);
    CHECK_EQ(kheap_check(), 0);
    /* Longer spans: every unit names the class, only the first the test. */
    void *big = kmalloc(20000);
    const struct chunk *bch = chunk_of(h, big);
    CHECK(bch && bch->units > 1);
    for (uint32_t u = 0; u < bch->units; u++)
        CHECK(map_unit_current(h, bch, u));
    /* A copy that disagrees is corruption. */
    const struct chunk *ch = chunk_of(h, again);
    uintptr_t k = map_key((const void *)ch->base);
    struct hmap_leaf *l = (struct hmap_leaf *)map_leaf_of(h, k);
    uint8_t keep = l->cls[k & (MAP_FAN - 1)];
    l->cls[k & (MAP_FAN - 1)] = (uint8_t)(keep ^ 1);
    CHECK_EQ(kheap_check(), -E_CORRUPT);
    l->cls[k & (MAP_FAN - 1)] = keep;
    CHECK_EQ(kheap_check(), 0);
    kfree(big);
    kfree(again);
    CHECK_EQ(kheap_check(), 0);
}
