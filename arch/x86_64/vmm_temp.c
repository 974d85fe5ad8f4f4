/*
 * The temporary-mapping window, and what the VMM undoes when a recovery
 * point abandons an operation.
 *
 * Theory of operation. TEMP_MAP_SLOTS pages at TEMP_MAP_BASE, backed by a PD
 * and a PT in .bss, so that the window works before the PMM can give frames
 * to the VMM and in every space (they all share the PDPT entry that holds
 * temp_pd). A 32-bit mask says which slots are taken; vmm_map_temp takes the
 * lowest free one. The rest of the VMM refuses the window (check_va in
 * vmm.c): its PT is not the PMM's to free.
 *
 * Cost: a map or unmap is one entry and one invlpg.
 *
 * Weaknesses: 16 slots, one CPU; running out panics (a missing unmap).
 */
#include <arch/arch.h>
#include <pagoda/memlayout.h>
#include <pagoda/printk.h>

#include "vmm_internal.h"
#include "x86.h"

static inline volatile uint64_t *ent(vaddr_t a)
{
    return (volatile uint64_t *)a;
}

static uint64_t temp_pd[PG_ENTRIES] __attribute__((aligned(4096)));
static uint64_t temp_pt[PG_ENTRIES] __attribute__((aligned(4096)));
static uint32_t temp_used;
_Static_assert(TEMP_MAP_SLOTS <= 32, "temp_used is a 32-bit mask");

static paddr_t image_phys(const void *p)
{
    return (vaddr_t)p - KERNEL_VMA;
}

uint64_t vmm_temp_pdpte(void)
{
    return image_phys(temp_pd) | PTE_PRESENT | PTE_WRITE;
}

void vmm_temp_init(void)
{
    temp_pd[pg_l2(TEMP_MAP_BASE)] = image_phys(temp_pt) | PTE_PRESENT | PTE_WRITE;
    volatile uint64_t *l3e = ent(pg_pdpte_addr(RECURSIVE_SLOT, TEMP_MAP_BASE));
    ASSERT(!(*l3e & PTE_PRESENT) || (*l3e & PTE_ADDR) == image_phys(temp_pd));
    *l3e = vmm_temp_pdpte();
    for (unsigned i = 0; i < TEMP_MAP_SLOTS; i++)
        invlpg(TEMP_MAP_BASE + i * PAGE_SIZE);
}

void *vmm_map_temp(paddr_t phys)
{
    bool irq = arch_irq_save();
    unsigned i = 0;
    while (i < TEMP_MAP_SLOTS && (temp_used & (1u << i)))
        i++;
    if (i == TEMP_MAP_SLOTS)
        panic("vmm_map_temp: all %d temp slots in use (a missing vmm_unmap_temp?)", TEMP_MAP_SLOTS);
    temp_used |= 1u << i;
    vaddr_t va = TEMP_MAP_BASE + i * PAGE_SIZE;
    temp_pt[pg_l1(va)] = ALIGN_DOWN(phys, PAGE_SIZE) | pg_leaf_bits(VMM_WRITE | VMM_NX, vmm_nx);
    invlpg(va);
    arch_irq_restore(irq);
    return (void *)(va + (phys & PAGE_MASK));
}

void vmm_unmap_temp(void *p)
{
    vaddr_t va = ALIGN_DOWN((vaddr_t)p, PAGE_SIZE);
    unsigned i = (unsigned)((va - TEMP_MAP_BASE) / PAGE_SIZE);
    if (va < TEMP_MAP_BASE || i >= TEMP_MAP_SLOTS || !(temp_used & (1u << i)))
        panic("vmm_unmap_temp: %p is not a live temp mapping", p);
    bool irq = arch_irq_save();
    temp_pt[pg_l1(va)] = 0;
    invlpg(va);
    temp_used &= ~(1u << i);
    arch_irq_restore(irq);
}

uint32_t vmm_temp_slots_used(void)
{
    return temp_used;
}

/* ---------------------------------------------------------------- recovery
 * A panic inside a VMM operation under a recovery point (the monitor's)
 * abandons it halfway: a temp slot still mapped, the foreign slot still
 * attached (every later vmm_attach would assert). What the point's owner
 * held when it armed stays; the rest is released. */

static bool foreign_attached(void)
{
    return *ent(pg_pml4e_addr(RECURSIVE_SLOT, pg_make(FOREIGN_SLOT, 0, 0, 0, 0))) & PTE_PRESENT;
}

void vmm_recover_save(uint64_t state[2])
{
    state[0] = temp_used;
    state[1] = foreign_attached();
}

void vmm_recover_restore(const uint64_t state[2])
{
    uint32_t stale = temp_used & ~(uint32_t)state[0];
    for (unsigned i = 0; i < TEMP_MAP_SLOTS; i++)
        if (stale & (1u << i)) {
            vaddr_t va = TEMP_MAP_BASE + i * PAGE_SIZE;
            temp_pt[pg_l1(va)] = 0;
            invlpg(va);
        }
    temp_used &= ~stale;
    bool detached = !state[1] && foreign_attached();
    if (detached)
        vmm_detach(FOREIGN_SLOT);
    if (stale || detached)
        printk("vmm: released what the abandoned operation held:%s%s\n",
               stale ? " temp-map slots" : "", detached ? " the foreign page-table slot" : "");
}
