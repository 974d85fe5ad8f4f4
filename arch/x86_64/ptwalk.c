/*
 * A decoded walk of the live page tables, for the monitor's `walk`.
 *
 * Every table is reached through the recursive slot (RECURSIVE_SLOT in
 * <pagoda/memlayout.h>), never through a physical address: with PML4[R]
 * pointing at the PML4 itself, an address whose top index is R makes the
 * MMU stop one level early, so the page it "maps" is a page table.
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
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/printk.h>

#include "x86.h"

#define PTE_P    (1ULL << 0)
#define PTE_W    (1ULL << 1)
#define PTE_U    (1ULL << 2)
#define PTE_PWT  (1ULL << 3)
#define PTE_PCD  (1ULL << 4)
#define PTE_A    (1ULL << 5)
#define PTE_D    (1ULL << 6)
#define PTE_PS   (1ULL << 7)
#define PTE_G    (1ULL << 8)
#define PTE_NX   (1ULL << 63)
#define PTE_ADDR 0x000FFFFFFFFFF000ULL

static vaddr_t sign_extend(uint64_t va)
{
    return (va & (1ULL << 47)) ? (va | 0xFFFF000000000000ULL) : va;
}

/* The recursive address of the table at `depth` (0 = PML4) on va's path. */
static vaddr_t table_va(vaddr_t va, unsigned depth)
{
    uint64_t idx[4] = {(va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511, (va >> 12) & 511};
    uint64_t r = RECURSIVE_SLOT, path[4];
    /* depth d: (4 - d) recursive indices, then the first d indices of va. */
    for (unsigned i = 0; i < 4; i++)
        path[i] = i < 4 - depth ? r : idx[i - (4 - depth)];
    return sign_extend(path[0] << 39 | path[1] << 30 | path[2] << 21 | path[3] << 12);
}

void arch_pte_decode(uint64_t raw, char *buf, size_t size)
{
    if (!(raw & PTE_P)) { /* the other bits are the OS's to use */
        ksnprintf(buf, size, "not present");
        return;
    }
    ksnprintf(buf, size, "%s%s%s%s%s%s%s%s%s%s", "P",
              raw & PTE_W ? " W" : " RO", raw & PTE_U ? " U" : " S", raw & PTE_PWT ? " PWT" : "",
              raw & PTE_PCD ? " PCD" : "", raw & PTE_A ? " A" : "", raw & PTE_D ? " D" : "",
              raw & PTE_PS ? " PS" : "", raw & PTE_G ? " G" : "", raw & PTE_NX ? " NX" : " X");
}

int arch_pt_walk(vaddr_t va, struct arch_walk *w)
{
    static const char *const names[4] = {"PML4", "PDPT", "PD", "PT"};
    static const uint64_t leaf_sizes[4] = {0, 1ULL << 30, 1ULL << 21, 1ULL << 12};

    w->levels = 0;
    w->mapped = false;
    w->phys = 0;
    if (!arch_va_canonical(va))
        return -E_INVAL;

    for (unsigned d = 0; d < 4; d++) {
        struct arch_walk_level *l = &w->lv[d];
        l->name = names[d];
        l->index = (unsigned)((va >> (39 - 9 * d)) & 511);
        l->entry_va = table_va(va, d) + l->index * 8;
        l->raw = 0;
        l->present = l->leaf = false;
        l->leaf_size = 0;
        w->levels = d + 1;
        if (arch_safe_copy(&l->raw, (const void *)l->entry_va, 8) != 0)
            return -E_RANGE;
        l->present = l->raw & PTE_P;
        if (!l->present)
            return 0;
        /* PS means a leaf in a PDPT (1 GiB) or a PD (2 MiB); in a PT the
         * same bit is PAT and every entry is a leaf. */
        l->leaf = d == 3 || (d > 0 && (l->raw & PTE_PS));
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
