/*
 * Host tests of span holes (src/mm/heap_holes.c): the release policy gives
 * back the free pages of spans still in use, nothing reads or hands out a
 * block on such a page, a refill commits them again, and an empty span's
 * holes pass to the list allocator. The page source here makes a page
 * given back inaccessible (PROT_NONE) until it is committed again, so a
 * read of one is a crash, not a quiet read of stale data.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/kmalloc.h>

#include "harness.h"
#include "heap_fixture.h"

#define REGION_BYTES (1ULL << 30)
#define BLOCK 256
#define NBLK 4000

static struct heap_region hr;
static struct heap_source src; /* hr's, with pages given back made inaccessible */
static bool refuse_commit;
static int level;

static void *t_grow(struct heap_source *s, size_t bytes)
{
    (void)s;
    void *p = hr.src.grow(&hr.src, bytes); /* maybe pages a shrink made inaccessible */
    if (p && mprotect(p, bytes, PROT_READ | PROT_WRITE) != 0)
        abort();
    return p;
}

static void t_shrink(struct heap_source *s, void *p, size_t bytes)
{
    (void)s;
    hr.src.shrink(&hr.src, p, bytes);
    if (mprotect(p, bytes, PROT_NONE) != 0)
        abort();
}

static bool t_commit(struct heap_source *s, void *p, size_t bytes)
{
    (void)s;
    if (refuse_commit)
        return false;
    if (mprotect(p, bytes, PROT_READ | PROT_WRITE) != 0)
        abort();
    return hr.src.commit(&hr.src, p, bytes);
}

static void setup(int harden)
{
    void *region = heap_fixture_region(REGION_BYTES);
    if (mprotect(region, REGION_BYTES, PROT_READ | PROT_WRITE) != 0)
        abort();
    heap_region_init(&hr, region, REGION_BYTES);
    src = (struct heap_source){t_grow, t_shrink, t_commit};
    refuse_commit = false;
    kheap_init(&src, harden);
    level = harden;
}

static bool said(const char *what)
{
    return strstr(htest_panic_msg, what) != NULL;
}

static uint8_t *blk[NBLK];
static uint8_t *kept[NBLK];
static size_t nkept;

/* NBLK blocks of BLOCK bytes; one per 32 KiB unit stays (the last of the
 * unit's blocks, on its span's last page but one or so), the rest are
 * freed and reach their spans; then a normal release run. Returns the
 * bytes given back in holes; *freed gets a freed block on a hole. */
static size_t sparse_spans(uint8_t **freed)
{
    *freed = NULL;
    nkept = 0;
    for (int i = 0; i < NBLK; i++) {
        blk[i] = kmalloc(BLOCK);
        if (!blk[i])
            return 0; /* the callers' CHECKs then fail */
        memset(blk[i], (uint8_t)i, BLOCK);
    }
    /* Keep the block at offset 0x5000 of each unit (just after, when
     * hardening): its page is 5. */
    for (int i = 0; i < NBLK; i++) {
        uintptr_t off = (uintptr_t)blk[i] & 0x7fff;
        if (off >= 0x5000 && off < 0x5000 + BLOCK + (level ? 16 : 0)) { /* one block start */
            kept[nkept++] = blk[i];
            blk[i] = NULL;
        }
    }
    if (nkept < 8)
        return 0;
    for (int i = 0; i < NBLK; i++)
        if (blk[i])
            kfree(blk[i]);
    kheap_mag_drain(); /* the freed blocks to their spans */
    struct kheap_stats a, b;
    kheap_stats(&a);
    kheap_release(false);
    kheap_stats(&b);
    *freed = NULL;
    for (int i = 0; i < NBLK && !*freed; i++)
        if (blk[i] && ((uintptr_t)blk[i] & 0x7fff) == 0x1000) /* page 1 of a span */
            *freed = blk[i];
    /* Given back, not merely moved: 0 (a failure to the callers) otherwise. */
    if (b.heap_bytes + b.span_hole_bytes - a.span_hole_bytes > a.heap_bytes)
        return 0;
    return b.span_hole_bytes;
}

HTEST(heap_holes_give_back_the_free_pages_of_sparse_spans)
{
    setup(0);
    uint8_t *freed;
    size_t holes = sparse_spans(&freed);
    printf("holes: %zu KiB over %zu sparse spans\n", holes / 1024, nkept);
    /* Each span keeps its kept block's page and its last page (with the
     * free blocks that stay): the other 6 of its 8 pages go. */
    CHECK(holes >= nkept * 5 * 4096);
    CHECK_EQ(kheap_check(), 0);
    for (size_t k = 0; k < nkept; k++) /* the survivors are intact */
        CHECK(kept[k][0] == kept[k][BLOCK - 1]);
    /* A freed block on a hole is free: a second kfree is reported, not read. */
    CHECK(freed != NULL);
    CHECK(EXPECT_PANIC(kfree(freed)));
    CHECK(said("double free"));
    CHECK(EXPECT_PANIC(kmalloc_usable_size(freed)));
    CHECK(said("not a live block"));
    CHECK(EXPECT_PANIC(krealloc(freed, 2 * BLOCK)));
    CHECK_EQ(kheap_check(), 0);
    for (size_t k = 0; k < nkept; k++)
        kfree(kept[k]);
    CHECK_EQ(kheap_check(), 0);
}

/* Allocating the class again commits the holes and hands their blocks out. */
HTEST(heap_holes_refill_commits_them_again)
{
    setup(0);
    uint8_t *freed;
    CHECK(sparse_spans(&freed) > 0);
    struct kheap_stats a, b;
    kheap_stats(&a);
    for (int i = 0; i < NBLK; i++) {
        blk[i] = kmalloc(BLOCK);
        CHECK(blk[i] != NULL);
        memset(blk[i], 0x77, BLOCK); /* a page still given back: SIGSEGV */
    }
    kheap_stats(&b);
    CHECK(b.span_hole_bytes < a.span_hole_bytes);
    CHECK_EQ(kheap_check(), 0);
    for (int i = 0; i < NBLK; i++)
        kfree(blk[i]);
    for (size_t k = 0; k < nkept; k++)
        kfree(kept[k]);
    kheap_release(true);
    kheap_stats(&b);
    CHECK_EQ(b.span_hole_bytes, 0);
    CHECK_EQ(b.live_bytes, 0);
    CHECK_EQ(kheap_check(), 0);
}

/* A live block of a span with holes is freed (through the locked path), and
 * freed twice is reported; the span, empty, goes to the list allocator with
 * its holes, its first page committed again (the free block's links). */
HTEST(heap_holes_live_free_and_release_of_a_holed_span)
{
    setup(0);
    uint8_t *freed;
    CHECK(sparse_spans(&freed) > 0);
    kfree(kept[0]);
    CHECK(EXPECT_PANIC(kfree(kept[0])));
    /* Its span may have gone at once (empty, and no magazine wanted). */
    CHECK(said("double free") || said("never returned"));
    for (size_t k = 1; k < nkept; k++)
        kfree(kept[k]);
    kheap_mag_drain();
    kheap_release(false);
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK_EQ(st.span_hole_bytes, 0);
    CHECK_EQ(kheap_check(), 0);
    /* The memory serves list blocks again. */
    uint8_t *big = kmalloc(MiB(1));
    CHECK(big != NULL);
    memset(big, 1, MiB(1));
    kfree(big);
    CHECK_EQ(kheap_check(), 0);
}

/* With no memory to commit, a refill of a holed span fails softly (the
 * class takes a new span), and an empty holed span whose first page cannot
 * come back stays until it can. */
HTEST(heap_holes_without_commit)
{
    setup(0);
    uint8_t *freed;
    CHECK(sparse_spans(&freed) > 0);
    refuse_commit = true;
    for (int i = 0; i < 200; i++) {
        blk[i] = kmalloc(BLOCK);
        CHECK(blk[i] != NULL);
        memset(blk[i], 0x33, BLOCK);
    }
    CHECK_EQ(kheap_check(), 0);
    for (int i = 0; i < 200; i++)
        kfree(blk[i]);
    for (size_t k = 0; k < nkept; k++)
        kfree(kept[k]);
    kheap_mag_drain();
    kheap_release(false);
    CHECK_EQ(kheap_check(), 0);
    refuse_commit = false;
    kheap_release(true);
    struct kheap_stats st;
    kheap_stats(&st);
    CHECK_EQ(st.span_hole_bytes, 0);
    CHECK_EQ(kheap_check(), 0);
}

/* Hardening keeps a header and poison in each free block: no holes. */
HTEST(heap_holes_not_when_hardening)
{
    setup(1);
    uint8_t *freed;
    CHECK_EQ(sparse_spans(&freed), 0);
    CHECK(nkept >= 8); /* it ran to the release */
    CHECK_EQ(kheap_check(), 0);
    for (size_t k = 0; k < nkept; k++)
        kfree(kept[k]);
    CHECK_EQ(kheap_check(), 0);
}

/* A span looked at once is looked at again when fewer of its blocks are in
 * use: two survivors per unit, then one. A run with nothing new to give
 * back gives nothing. */
HTEST(heap_holes_a_sparser_span_gives_more)
{
    setup(0);
    uint8_t *second[NBLK];
    size_t nsecond = 0;
    nkept = 0;
    for (int i = 0; i < NBLK; i++) {
        blk[i] = kmalloc(BLOCK);
        CHECK(blk[i] != NULL);
    }
    for (int i = 0; i < NBLK; i++) {
        uintptr_t off = (uintptr_t)blk[i] & 0x7fff;
        if (off == 0x5000)
            kept[nkept++] = blk[i];
        else if (off == 0x1000)
            second[nsecond++] = blk[i];
        else
            kfree(blk[i]);
    }
    CHECK(nkept >= 8 && nsecond >= 8);
    kheap_mag_drain();
    kheap_release(false);
    struct kheap_stats a, b, c;
    kheap_stats(&a);
    CHECK(a.span_hole_bytes > 0);
    kheap_release(false);
    kheap_stats(&b);
    CHECK_EQ(b.span_hole_bytes, a.span_hole_bytes);
    for (size_t k = 0; k < nsecond; k++)
        kfree(second[k]);
    kheap_mag_drain();
    kheap_release(false);
    kheap_stats(&c);
    /* Page 1 of each span with both survivors goes now. */
    CHECK(c.span_hole_bytes >= a.span_hole_bytes + (nsecond < nkept ? nsecond : nkept) / 2 * 4096);
    CHECK_EQ(kheap_check(), 0);
    for (size_t k = 0; k < nkept; k++)
        kfree(kept[k]);
    CHECK_EQ(kheap_check(), 0);
}
