/*
 * The temporary-mapping window, and what the VMM undoes when a recovery
 * point abandons an operation.
 *
 * Theory of operation. SMP_MAX_CPUS windows of TEMP_MAP_SLOTS pages from
 * TEMP_MAP_BASE, one window per CPU (CPU i's starts TEMP_MAP_SLOTS * i pages
 * in), all in one PT and PD in .bss, so that the windows work before the PMM
 * can give frames to the VMM and in every space (they all share the PDPT
 * entry that holds temp_pd). A 32-bit mask per CPU says which of its slots
 * are taken; vmm_map_temp takes the lowest free one. The rest of the VMM
 * refuses the window (check_va in vmm.c): its PT is not the PMM's to free.
 *
 * Why a local invlpg is enough, with no lock and no shootdown: a slot is
 * only ever used by the CPU whose window holds it. Kernel code is not
 * preempted, so the CPU that maps a slot is the one that reads it and
 * unmaps it, and a temp pointer never goes to another CPU (contract of
 * vmm_map_temp). Another CPU never accesses this window, so even if it
 * had cached one of its translations (speculatively), it would never use
 * it; the owner's invlpg on each change is the only flush that matters.
 * Each CPU writes only its own PT entries and its own mask (interrupts off
 * around the mask, for handlers on the same CPU).
 *
 * Cost: a map or unmap is one entry and one invlpg.
 *
 * Weaknesses: 16 slots per CPU; running out panics (a missing unmap).
 */
#include <arch/arch.h>
#include <pagoda/memlayout.h>
#include <pagoda/percpu.h>
#include <pagoda/printk.h>

#include "vmm_internal.h"
#include "x86.h"

static inline volatile uint64_t *ent(vaddr_t a)
{
    return (volatile uint64_t *)a;
}

static uint64_t temp_pd[PG_ENTRIES] __attribute__((aligned(4096)));
static uint64_t temp_pt[PG_ENTRIES] __attribute__((aligned(4096)));
/* Each CPU's taken slots, one cache line each (only that CPU writes it). */
static struct {
    uint32_t used;
} __attribute__((aligned(64))) temp_used[SMP_MAX_CPUS];
_Static_assert(TEMP_MAP_SLOTS <= 32, "temp_used is a 32-bit mask");
_Static_assert(TEMP_MAP_SLOTS * SMP_MAX_CPUS <= PG_ENTRIES, "every CPU's window in one PT");

/* The first page of this CPU's window. */
static vaddr_t my_window(void)
{
    return TEMP_MAP_BASE + (vaddr_t)this_cpu()->index * TEMP_MAP_SLOTS * PAGE_SIZE;
}

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
    for (unsigned i = 0; i < TEMP_MAP_SLOTS * SMP_MAX_CPUS; i++)
        invlpg(TEMP_MAP_BASE + i * PAGE_SIZE);
}

void *vmm_map_temp(paddr_t phys)
{
    bool irq = arch_irq_save();
    uint32_t *used = &temp_used[this_cpu()->index].used;
    unsigned i = 0;
    while (i < TEMP_MAP_SLOTS && (*used & (1u << i)))
        i++;
    if (i == TEMP_MAP_SLOTS)
        panic("vmm_map_temp: all %d temp slots of CPU %u in use (a missing vmm_unmap_temp?)",
              TEMP_MAP_SLOTS, this_cpu()->index);
    *used |= 1u << i;
    vaddr_t va = my_window() + i * PAGE_SIZE;
    temp_pt[pg_l1(va)] = ALIGN_DOWN(phys, PAGE_SIZE) | pg_leaf_bits(VMM_WRITE | VMM_NX, vmm_nx);
    invlpg(va);
    arch_irq_restore(irq);
    return (void *)(va + (phys & PAGE_MASK));
}

void vmm_unmap_temp(void *p)
{
    vaddr_t va = ALIGN_DOWN((vaddr_t)p, PAGE_SIZE), base = my_window();
    unsigned i = (unsigned)((va - base) / PAGE_SIZE);
    uint32_t *used = &temp_used[this_cpu()->index].used;
    if (va < base || i >= TEMP_MAP_SLOTS || !(*used & (1u << i)))
        panic("vmm_unmap_temp: %p is not a live temp mapping of CPU %u", p, this_cpu()->index);
    bool irq = arch_irq_save();
    temp_pt[pg_l1(va)] = 0;
    invlpg(va);
    *used &= ~(1u << i);
    arch_irq_restore(irq);
}

uint32_t vmm_temp_slots_used(void)
{
    return temp_used[this_cpu()->index].used;
}

/* ---------------------------------------------------------------- recovery
 * A panic inside a VMM operation under a recovery point (the monitor's)
 * abandons it halfway: a temp slot still mapped, the foreign slot still
 * attached (every later vmm_attach would assert), the page-table or range
 * lock still held (every later VMM call would spin). What the point's owner
 * held when it armed stays; the rest is released, all of it this CPU's. */

#define HELD_FOREIGN 1u
#define HELD_PT 2u
#define HELD_KVA 4u

static uint64_t held_now(void)
{
    return (vmm_attached_here() ? HELD_FOREIGN : 0) | (vmm_pt_held() ? HELD_PT : 0) |
           (vmm_kva_held() ? HELD_KVA : 0);
}

void vmm_recover_save(uint64_t state[2])
{
    state[0] = vmm_temp_slots_used();
    state[1] = held_now();
}

void vmm_recover_restore(const uint64_t state[2])
{
    uint32_t *used = &temp_used[this_cpu()->index].used;
    uint32_t stale = *used & ~(uint32_t)state[0];
    for (unsigned i = 0; i < TEMP_MAP_SLOTS; i++)
        if (stale & (1u << i)) {
            vaddr_t va = my_window() + i * PAGE_SIZE;
            temp_pt[pg_l1(va)] = 0;
            invlpg(va);
        }
    *used &= ~stale;
    uint64_t drop = held_now() & ~state[1];
    if (drop & HELD_FOREIGN)
        vmm_detach(FOREIGN_SLOT);
    if (drop & HELD_PT)
        vmm_pt_abandon();
    if (drop & HELD_KVA)
        vmm_kva_abandon();
    if (stale || drop)
        printk("vmm: released what the abandoned operation held:%s%s%s%s\n",
               stale ? " temp-map slots" : "", (drop & HELD_FOREIGN) ? " the foreign page-table slot" : "",
               (drop & HELD_PT) ? " the page-table lock" : "", (drop & HELD_KVA) ? " the range lock" : "");
}
