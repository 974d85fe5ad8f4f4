/*
 * demand: watch the two demand-paging methods and the stack grow.
 *  1. Read a large untouched heap range (2 x PAGES): every page maps the
 *     shared zero frame, and no frame is spent.
 *  2. Write one byte per page in its first half: one private frame per
 *     page written; the other half stays on the zero page.
 *  3. Recurse with a page-sized frame: the stack grows by demand faults.
 *  4. An mmap with MAP_DEMAND: even a read gets a fresh frame.
 * With the argument `hold` it stops at the end, for the monitor's vmmap.
 */
#include "ulib.h"

#define PROG "demand"
#define PAGES 256
#define DEPTH 24

static unsigned long grow(int n)
{
    volatile char frame[4000];
    frame[0] = (char)n;
    frame[3999] = (char)n;
    if (n == 0)
        return frame[0];
    return grow(n - 1) + frame[3999];
}

int main(int argc, char **argv)
{
    struct sys_memstat a, b, c, d, e;
    CHECK(memstat(&a) == 0);
    volatile char *heap = sbrk(2 * PAGES * 4096L);
    CHECK(heap != NULL);

    unsigned long sum = 0;
    for (int i = 0; i < 2 * PAGES; i++)
        sum += heap[i * 4096L];
    CHECK(memstat(&b) == 0);
    printf("demand: read %d untouched heap pages: %lu on the zero page, %lu new frames, sum %lu\n",
           2 * PAGES, b.zero - a.zero, b.frames - a.frames, sum);
    CHECK(sum == 0);
    CHECK(b.zero - a.zero == 2 * PAGES);
    CHECK(b.frames == a.frames);

    for (int i = 0; i < PAGES; i++)
        heap[i * 4096L] = 1;
    CHECK(memstat(&c) == 0);
    printf("demand: wrote one byte in each of the first %d: %lu new frames (one per page), "
           "%lu pages still on the zero page\n",
           PAGES, c.frames - b.frames, c.zero - a.zero);
    CHECK(c.frames - b.frames == PAGES);
    CHECK(c.zero_breaks - b.zero_breaks == PAGES);
    CHECK(c.zero - a.zero == PAGES);

    grow(DEPTH);
    CHECK(memstat(&d) == 0);
    printf("demand: stack grew from %lu to %lu pages through %lu demand faults\n", c.stack_pages,
           d.stack_pages, d.demand_faults - c.demand_faults);
    CHECK(d.stack_pages >= c.stack_pages + DEPTH);

    volatile char *m = (char *)mmap_anon(16 * 4096, PROT_READ | PROT_WRITE, MAP_DEMAND);
    CHECK((long)m > 0);
    for (int i = 0; i < 16; i++)
        sum += m[i * 4096];
    CHECK(memstat(&e) == 0);
    printf("demand: read 16 pages of a MAP_DEMAND mapping: %lu new frames, %lu zero-page maps\n",
           e.frames - d.frames, e.zero_maps - d.zero_maps);
    CHECK(e.frames - d.frames == 16);
    CHECK(e.zero_maps == d.zero_maps);

    if (argc > 1 && strcmp(argv[1], "hold") == 0) {
        printf("demand: pid %ld stops here for a look (cont %ld resumes it)\n", getpid(), getpid());
        stop();
    }
    CHECK(munmap((void *)m, 16 * 4096) == 0);
    printf("demand: ok\n");
    return 0;
}
