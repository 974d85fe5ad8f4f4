/*
 * A decoded walk of the live page tables, for the monitor's `walk`.
 *
 * Every table is reached through the recursive slot (RECURSIVE_SLOT; the
 * arithmetic is <arch/paging.h>'s), never through a physical address: with
 * PML4[R] pointing at the PML4 itself, an address whose top index is R makes
 * the MMU stop one level early, so the page it "maps" is a page table.
 *   PML4 of the live space:  R R R R  -> 0xffffff7fbfdfe000 for R = 510
 *   PDPT for PML4 entry i:   R R R i
 *   PD for entries i, j:     R R i j
 *   PT for entries i, j, k:  R i j k
 * A level is only looked at when the level above said present and not a
 * leaf; otherwise its recursive address is itself unmapped. The entries are
 * still read with arch_safe_copy, so a broken table gives an error, not a
 * fault.
 */
#include <arch/monitor.h>
#include <arch/paging.h>
#include <pagoda/errno.h>
#include <pagoda/printk.h>

#include "x86.h"

/* Where level `depth` (0 = PML4) keeps va's entry, through the live slot. */
static vaddr_t entry_va(vaddr_t va, unsigned depth)
{
    switch (depth) {
    case 0:
        return pg_pml4e_addr(RECURSIVE_SLOT, va);
    case 1:
        return pg_pdpte_addr(RECURSIVE_SLOT, va);
    case 2:
        return pg_pde_addr(RECURSIVE_SLOT, va);
    default:
        return pg_pte_addr(RECURSIVE_SLOT, va);
    }
}

void arch_pte_decode(uint64_t raw, char *buf, size_t size)
{
    if (!(raw & PTE_PRESENT)) { /* the other bits are the OS's to use */
        ksnprintf(buf, size, "not present");
        return;
    }
    ksnprintf(buf, size, "%s%s%s%s%s%s%s%s%s%s", "P", raw & PTE_WRITE ? " W" : " RO",
              raw & PTE_USER ? " U" : " S", raw & PTE_PWT ? " PWT" : "",
              raw & PTE_PCD ? " PCD" : "", raw & PTE_ACCESSED ? " A" : "",
              raw & PTE_DIRTY ? " D" : "", raw & PTE_HUGE ? " PS" : "",
              raw & PTE_GLOBAL ? " G" : "", raw & PTE_NX ? " NX" : " X");
}

int arch_pt_walk(vaddr_t va, struct arch_walk *w)
{
    static const char *const names[4] = {"PML4", "PDPT", "PD", "PT"};
    static const uint64_t leaf_sizes[4] = {0, PG_1G, PG_2M, PAGE_SIZE};

    w->levels = 0;
    w->mapped = false;
    w->phys = 0;
    if (!arch_va_canonical(va))
        return -E_INVAL;

    for (unsigned d = 0; d < 4; d++) {
        struct arch_walk_level *l = &w->lv[d];
        l->name = names[d];
        l->index = (unsigned)((va >> (39 - 9 * d)) & 511);
        l->entry_va = entry_va(va, d);
        l->raw = 0;
        l->present = l->leaf = false;
        l->leaf_size = 0;
        w->levels = d + 1;
        if (arch_safe_copy(&l->raw, (const void *)l->entry_va, 8) != 0)
            return -E_RANGE;
        l->present = l->raw & PTE_PRESENT;
        if (!l->present)
            return 0;
        /* PS means a leaf in a PDPT (1 GiB) or a PD (2 MiB); in a PT the
         * same bit is PAT and every entry is a leaf. */
        l->leaf = d == 3 || (d > 0 && (l->raw & PTE_HUGE));
        if (!l->leaf) {
            l->next = l->raw & PTE_ADDR;
            continue;
        }
        l->leaf_size = leaf_sizes[d];
        l->next = l->raw & PTE_ADDR & ~(l->leaf_size - 1);
        w->mapped = true;
        w->phys = l->next + (va & (l->leaf_size - 1));
        return 0;
    }
    return 0;
}

paddr_t arch_phys_limit(void)
{
    uint32_t a, b, c, d;
    cpuid(0x80000000, 0, &a, &b, &c, &d);
    unsigned bits = 36; /* the architectural default without leaf 0x80000008 */
    if (a >= 0x80000008) {
        cpuid(0x80000008, 0, &a, &b, &c, &d);
        bits = a & 0xFF;
    }
    if (bits < 32 || bits > 52)
        bits = 36;
    return 1ULL << bits;
}
