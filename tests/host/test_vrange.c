/* Host tests of the first-fit virtual range set (src/mm/vrange.c). */
#include <pagoda/errno.h>
#include <pagoda/vrange.h>

#include "harness.h"

#define POOL 8
static struct vrange pool[POOL];
static bool used[POOL];

static struct vrange *desc_alloc(void)
{
    for (int i = 0; i < POOL; i++)
        if (!used[i]) {
            used[i] = true;
            return &pool[i];
        }
    return NULL;
}

static void desc_free(struct vrange *r)
{
    used[r - pool] = false;
}

static int descs_in_use(void)
{
    int n = 0;
    for (int i = 0; i < POOL; i++)
        n += used[i];
    return n;
}

#define BASE 0x100000000ULL
static struct vrange_set fresh(size_t pages, size_t gap)
{
    for (int i = 0; i < POOL; i++)
        used[i] = false;
    return (struct vrange_set){BASE, BASE + pages * PAGE_SIZE, gap, NULL, desc_alloc, desc_free};
}

HTEST(vrange_first_fit_with_gap)
{
    struct vrange_set s = fresh(64, 1);
    struct vrange *a = vrange_alloc(&s, 2, 7), *b = vrange_alloc(&s, 3, 0);
    CHECK(a && b);
    CHECK_EQ(a->base, BASE);
    CHECK_EQ(a->flags, 7);
    CHECK_EQ(b->base, BASE + 3 * PAGE_SIZE);              /* one guard page after a */
    CHECK(vrange_find(&s, BASE + 2 * PAGE_SIZE) == NULL); /* the guard */
    CHECK(vrange_find(&s, BASE + PAGE_SIZE + 5) == a);
    CHECK(vrange_find(&s, BASE + 5 * PAGE_SIZE) == b);
    CHECK(vrange_below(&s, BASE + 2 * PAGE_SIZE) == a);
    /* Free a, then a 1-page range reuses the hole before b. */
    CHECK_EQ(vrange_free(&s, BASE), 0);
    struct vrange *c = vrange_alloc(&s, 1, 0);
    CHECK(c && c->base == BASE);
    /* A 2-page range does not fit in what is left of the hole (1 page + gap
     * would touch b's start), so it goes after b. */
    struct vrange *d = vrange_alloc(&s, 2, 0);
    CHECK(d && d->base == BASE + 7 * PAGE_SIZE);
}

HTEST(vrange_exhaustion_and_bad_free)
{
    struct vrange_set s = fresh(8, 1);
    CHECK(vrange_alloc(&s, 0, 0) == NULL);
    CHECK(vrange_alloc(&s, 9, 0) == NULL);
    CHECK(vrange_alloc(&s, 8, 0) == NULL); /* no room for its guard */
    struct vrange *a = vrange_alloc(&s, 7, 0);
    CHECK(a != NULL);
    CHECK(vrange_alloc(&s, 1, 0) == NULL);
    CHECK_EQ(vrange_free(&s, BASE + PAGE_SIZE), -E_BADFREE);
    CHECK_EQ(vrange_free(&s, BASE), 0);
    CHECK_EQ(vrange_free(&s, BASE), -E_BADFREE); /* double free */
    CHECK_EQ(descs_in_use(), 0);
}

HTEST(vrange_descriptor_pool_empty)
{
    struct vrange_set s = fresh(1024, 0);
    for (int i = 0; i < POOL; i++)
        CHECK(vrange_alloc(&s, 1, 0) != NULL);
    CHECK(vrange_alloc(&s, 1, 0) == NULL);
    /* Without a gap, ranges are packed back to back and stay sorted. */
    vaddr_t prev = 0;
    for (struct vrange *r = s.head; r; r = r->next) {
        CHECK(r->base > prev);
        prev = r->base;
    }
    CHECK_EQ(prev, BASE + (POOL - 1) * PAGE_SIZE);
}
