/*
 * Which frames the live address space uses, for the monitor's refusals.
 *
 * arch_frame_find_use walks every present table of the live space through
 * the recursive slot (as ptwalk.c does for one address), top-down, and
 * compares each table's frame and each leaf's frame range with the frames
 * asked about. The two page-table windows (PML4[510] and [509]) are not
 * descended into: they show the same tables again.
 *
 * Cost: one read per present entry of every table, which for the kernel
 * space is a few thousand entries (the image's PTs, the heap's, the bitmap's,
 * the temp window's); a few milliseconds under emulation.
 */
#include <arch/monitor.h>
#include <arch/paging.h>
#include <pagoda/memlayout.h>

#include "x86.h"

static inline uint64_t rd(vaddr_t a)
{
    return *(volatile uint64_t *)a;
}

struct scan {
    paddr_t lo, hi; /* the frames asked about: [lo, hi) */
    bool user;
    struct arch_frame_use *use;
};

static bool table_hit(struct scan *s, uint64_t e, vaddr_t va, unsigned level)
{
    paddr_t pa = e & PTE_ADDR;
    if (pa < s->lo || pa >= s->hi)
        return false;
    s->use->frame = pa;
    s->use->va = va;
    s->use->level = level;
    s->use->table = true;
    return true;
}

/* A leaf mapping [pa, pa + size) at va: does it reach a frame asked about? */
static bool leaf_hit(struct scan *s, paddr_t pa, uint64_t size, vaddr_t va)
{
    if (va < USER_LIMIT && !s->user)
        return false;
    if (pa + size <= s->lo || pa >= s->hi)
        return false;
    paddr_t first = pa > s->lo ? pa : s->lo;
    s->use->frame = first;
    s->use->va = va + (first - pa);
    s->use->level = 0;
    s->use->table = false;
    return true;
}

bool arch_frame_find_use(paddr_t pa, size_t pages, bool user, struct arch_frame_use *use)
{
    struct scan s = {ALIGN_DOWN(pa, PAGE_SIZE), ALIGN_DOWN(pa, PAGE_SIZE) + pages * PAGE_SIZE,
                     user, use};
    if (table_hit(&s, read_cr3(), 0, 4))
        return true;
    for (unsigned a = 0; a < PG_ENTRIES; a++) {
        if (a == RECURSIVE_SLOT || a == FOREIGN_SLOT)
            continue;
        uint64_t e4 = rd(pg_pml4e_addr(RECURSIVE_SLOT, pg_make(a, 0, 0, 0, 0)));
        if (!(e4 & PTE_PRESENT))
            continue;
        if (table_hit(&s, e4, pg_make(a, 0, 0, 0, 0), 3))
            return true;
        for (unsigned b = 0; b < PG_ENTRIES; b++) {
            vaddr_t vb = pg_make(a, b, 0, 0, 0);
            uint64_t e3 = rd(pg_pdpte_addr(RECURSIVE_SLOT, vb));
            if (!(e3 & PTE_PRESENT))
                continue;
            if (e3 & PTE_HUGE) {
                if (leaf_hit(&s, e3 & PTE_ADDR & ~(paddr_t)(PG_1G - 1), PG_1G, vb))
                    return true;
                continue;
            }
            if (table_hit(&s, e3, vb, 2))
                return true;
            for (unsigned c = 0; c < PG_ENTRIES; c++) {
                vaddr_t vc = pg_make(a, b, c, 0, 0);
                uint64_t e2 = rd(pg_pde_addr(RECURSIVE_SLOT, vc));
                if (!(e2 & PTE_PRESENT))
                    continue;
                if (e2 & PTE_HUGE) {
                    if (leaf_hit(&s, e2 & PTE_ADDR_2M, PG_2M, vc))
                        return true;
                    continue;
                }
                if (table_hit(&s, e2, vc, 1))
                    return true;
                vaddr_t pt = pg_pte_addr(RECURSIVE_SLOT, vc);
                for (unsigned d = 0; d < PG_ENTRIES; d++) {
                    uint64_t e1 = rd(pt + d * 8);
                    if ((e1 & PTE_PRESENT) &&
                        leaf_hit(&s, e1 & PTE_ADDR, PAGE_SIZE, pg_make(a, b, c, d, 0)))
                        return true;
                }
            }
        }
    }
    return false;
}
