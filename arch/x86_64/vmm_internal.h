/*
 * Private to the VMM files in arch/x86_64 (vmm.c, vmm_init.c, vmm_kva.c,
 * vmm_space.c and their tests). Every page-table operation takes the PML4
 * slot through which it sees the tables: RECURSIVE_SLOT for the live space,
 * FOREIGN_SLOT for a space attached with vmm_attach().
 */
#ifndef PAGODA_VMM_INTERNAL_H
#define PAGODA_VMM_INTERNAL_H

#include <arch/paging.h>
#include <pagoda/vmm.h>

struct vmm_space {
    paddr_t pml4;
    bool in_use;
};

/* True once EFER.NXE is on (the CPU has NX): only then may PTE_NX be set. */
extern bool vmm_nx;
/* True once PAT entry 4 is write-combining (x86_pat_init): only then does
 * VMM_WC set the PTE's PAT bit; otherwise it maps uncached. */
extern bool vmm_pat_wc;
/* The space CR3 holds, and the kernel's own (after vmm_init). */
extern struct vmm_space *vmm_current;
extern struct vmm_space vmm_kernel_space;

/* The single-page operations behind the public API, through `slot`. */
int vmm_map_in(unsigned slot, vaddr_t virt, paddr_t phys, unsigned flags);
int vmm_unmap_in(unsigned slot, vaddr_t virt, paddr_t *phys);
int vmm_translate_in(unsigned slot, vaddr_t virt, paddr_t *phys, unsigned *flags);
int vmm_protect_in(unsigned slot, vaddr_t virt, unsigned flags);
/* Make sure the PDPT under PML4 entry `l4` exists (kernel-half sharing). */
int vmm_ensure_pdpt(unsigned slot, unsigned l4);
/* Map a 2 MiB page (for the split test; the VMM itself maps only 4 KiB). */
int vmm_map_2m_in(unsigned slot, vaddr_t virt, paddr_t phys, unsigned flags);

/* Point FOREIGN_SLOT at s's PML4 (or use RECURSIVE_SLOT when s is live);
 * returns the slot to pass to the *_in functions. Pair with vmm_detach. */
unsigned vmm_attach(struct vmm_space *s);
void vmm_detach(unsigned slot);

/* Hook the temporary-mapping window into the live tables (boot or not). */
void vmm_temp_init(void);
/* The PDPT entry that makes the temp window visible in a space. */
uint64_t vmm_temp_pdpte(void);

/* The bits of a PML4 entry that opens a page-table window (the recursive
 * entry 510, the foreign entry 509): present, writable, and no-execute
 * whenever the CPU has NX, since a window holds only tables. */
uint64_t vmm_window_bits(void);

/* For recovery points (recover.c): vmm_recover_save records what the VMM
 * holds (temp slots, the foreign slot); vmm_recover_restore gives back
 * whatever was taken since, as when a panic cut an operation short. */
void vmm_recover_save(uint64_t state[2]);
void vmm_recover_restore(const uint64_t state[2]);
/* The temp-map slots in use, as a bit mask (for tests). */
uint32_t vmm_temp_slots_used(void);

/* A zeroed frame for a page table or PML4, or 0. */
paddr_t vmm_alloc_table(void);

/* Demand paging and fault reports (vmm_kva.c). */
void vmm_fault_init(void);
/* A short name for the part of the address space `va` is in. */
void vmm_describe(vaddr_t va, char *buf, size_t size);

#endif
