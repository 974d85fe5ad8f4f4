/* Host tests of the recursive-mapping arithmetic in <arch/paging.h>. */
#include <arch/paging.h>
#include <pagoda/vmm.h>

#include "harness.h"

HTEST(paging_indices)
{
    vaddr_t va = 0xffffffff80123456ULL;
    CHECK_EQ(pg_l4(va), 511);
    CHECK_EQ(pg_l3(va), 510);
    CHECK_EQ(pg_l2(va), 0);
    CHECK_EQ(pg_l1(va), 0x123);
    CHECK_EQ(pg_make(511, 510, 0, 0x123, 0x456), va);
    CHECK_EQ(pg_l1(0xDEADBEEF), 0xDB);
    CHECK_EQ(pg_l2(0xDEADBEEF), 0xF5);
    CHECK_EQ(pg_l3(0xDEADBEEF), 3);
    CHECK_EQ(pg_l4(0xDEADBEEF), 0);
}

HTEST(paging_sign_extension)
{
    CHECK_EQ(pg_canonical(0x0000800000000000ULL), 0xffff800000000000ULL);
    CHECK_EQ(pg_canonical(0x00007fffffffffffULL), 0x00007fffffffffffULL);
    CHECK_EQ(pg_canonical(0x1234000000001000ULL), 0x0000000000001000ULL);
    CHECK(pg_is_canonical(KVA_BASE));
    CHECK(!pg_is_canonical(0x0000800000000000ULL));
    /* The recursive window must come out sign-extended, not as 0x0000ff... */
    CHECK_EQ(pg_pte_addr(RECURSIVE_SLOT, 0), 0xffffff0000000000ULL);
}

HTEST(paging_recursive_bases)
{
    /* The four table bases the memlayout map promises for slot 510. */
    CHECK_EQ(pg_pde_addr(RECURSIVE_SLOT, 0), 0xffffff7f80000000ULL);
    CHECK_EQ(pg_pdpte_addr(RECURSIVE_SLOT, 0), 0xffffff7fbfc00000ULL);
    CHECK_EQ(pg_pml4e_addr(RECURSIVE_SLOT, 0), 0xffffff7fbfdfe000ULL);
    /* The PML4 entry of the recursive slot is itself inside the PML4 page. */
    CHECK_EQ(pg_pml4e_addr(RECURSIVE_SLOT, 0xffffff0000000000ULL), 0xffffff7fbfdfe000ULL + 510 * 8);
}

HTEST(paging_entry_addresses)
{
    /* Each entry address is base + index * 8, the index spanning every level
     * above it: a PTE index is 36 bits, a PDE 27, a PDPTE 18, a PML4E 9. */
    vaddr_t va = 0xffffffff80123456ULL;
    uint64_t pt_index = (va >> 12) & 0xfffffffffULL;
    uint64_t pd_index = (va >> 21) & 0x7ffffffULL;
    uint64_t pdpt_index = (va >> 30) & 0x3ffffULL;
    CHECK_EQ(pg_pte_addr(RECURSIVE_SLOT, va), 0xffffff0000000000ULL + pt_index * 8);
    CHECK_EQ(pg_pde_addr(RECURSIVE_SLOT, va), 0xffffff7f80000000ULL + pd_index * 8);
    CHECK_EQ(pg_pdpte_addr(RECURSIVE_SLOT, va), 0xffffff7fbfc00000ULL + pdpt_index * 8);
    CHECK_EQ(pg_pml4e_addr(RECURSIVE_SLOT, va), 0xffffff7fbfdfe000ULL + 511 * 8);
    /* A low address's PTE sits at the very start of the window. */
    CHECK_EQ(pg_pte_addr(RECURSIVE_SLOT, 0xDEADBEEF), 0xffffff0000000000ULL + 0xDEADBULL * 8);
    /* Neighbouring pages have neighbouring entries; page offsets don't count. */
    CHECK_EQ(pg_pte_addr(RECURSIVE_SLOT, 0x1000) - pg_pte_addr(RECURSIVE_SLOT, 0x0fff), 8);
    CHECK_EQ(pg_table_of(pg_pte_addr(RECURSIVE_SLOT, va)), pg_make(RECURSIVE_SLOT, 511, 510, 0, 0));
}

HTEST(paging_foreign_slot)
{
    /* Through slot 509, the first index chooses the foreign PML4 and the
     * others recurse through that space's own entry 510. */
    vaddr_t va = 0x0000123456789000ULL;
    CHECK_EQ(pg_pte_addr(FOREIGN_SLOT, va),
             pg_make(FOREIGN_SLOT, pg_l4(va), pg_l3(va), pg_l2(va), pg_l1(va) * 8));
    CHECK_EQ(pg_pde_addr(FOREIGN_SLOT, va),
             pg_make(FOREIGN_SLOT, RECURSIVE_SLOT, pg_l4(va), pg_l3(va), pg_l2(va) * 8));
    CHECK_EQ(pg_pml4e_addr(FOREIGN_SLOT, va), 0xfffffeffbfdfe000ULL + pg_l4(va) * 8);
    CHECK(pg_pte_addr(FOREIGN_SLOT, va) >= 0xfffffe8000000000ULL);
    CHECK(pg_pte_addr(FOREIGN_SLOT, va) < 0xffffff0000000000ULL);
}

HTEST(paging_leaf_bits)
{
    CHECK_EQ(pg_leaf_bits(0, true), PTE_PRESENT);
    CHECK_EQ(pg_leaf_bits(VMM_WRITE | VMM_NX, true), PTE_PRESENT | PTE_WRITE | PTE_NX);
    /* Without NX support the bit is reserved: it must never be set. */
    CHECK_EQ(pg_leaf_bits(VMM_WRITE | VMM_NX, false), PTE_PRESENT | PTE_WRITE);
    CHECK_EQ(pg_leaf_bits(VMM_USER | VMM_GLOBAL | VMM_NOCACHE | VMM_WRTHRU, true),
             PTE_PRESENT | PTE_USER | PTE_GLOBAL | PTE_PCD | PTE_PWT);
    unsigned all = VMM_WRITE | VMM_USER | VMM_NX | VMM_GLOBAL | VMM_NOCACHE | VMM_WRTHRU;
    CHECK_EQ(pg_entry_flags(pg_leaf_bits(all, true) | 0x123000), all);
    CHECK_EQ(pg_entry_flags(PTE_PRESENT | PTE_ACCESSED | PTE_DIRTY), 0);
    /* Write-combining is the PAT bit of a 4 KiB PTE alone: PAT entry 4. */
    CHECK_EQ(pg_leaf_bits(VMM_WRITE | VMM_WC, true), PTE_PRESENT | PTE_WRITE | PTE_HUGE);
    CHECK_EQ(pg_entry_flags(PTE_PRESENT | PTE_HUGE), VMM_WC);
}

HTEST(paging_split_2m)
{
    uint64_t pde = 0x40000000ULL | PTE_PRESENT | PTE_WRITE | PTE_HUGE | PTE_NX | PTE_PAT_HUGE;
    CHECK_EQ(pg_split_entry(pde, 0), 0x40000000ULL | PTE_PRESENT | PTE_WRITE | PTE_NX | PTE_HUGE);
    uint64_t e = pg_split_entry(pde & ~PTE_PAT_HUGE, 511);
    CHECK_EQ(e & PTE_ADDR, 0x40000000ULL + 511 * PAGE_SIZE);
    CHECK_EQ(e & ~PTE_ADDR, PTE_PRESENT | PTE_WRITE | PTE_NX);
}
