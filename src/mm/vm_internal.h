/* Private to the user VM (src/mm/vm_*.c). */
#ifndef PAGODA_VM_INTERNAL_H
#define PAGODA_VM_INTERNAL_H

#include <arch/mmu.h>
#include <pagoda/vm.h>

/* Reference counts (vm_frames.c). */
void vm_ref_new(paddr_t pa);
void vm_ref_inc(paddr_t pa);
/* True when the last reference went (the caller frees the frame). */
bool vm_ref_dec(paddr_t pa);
/* A frame for one page of as, counted (1 reference) and charged against
 * frame_limit; zeroed if asked. 0 when out of memory. */
paddr_t vm_frame_new(struct vm_as *as, bool zero);
/* Unmap va in as (if mapped) and drop its frame reference. */
void vm_page_drop(struct vm_as *as, vaddr_t va);

/* The MMU flags of a region's pages (write only if asked and allowed). */
static inline unsigned vm_mmu_flags(const struct vm_region *r, bool write)
{
    return (write && (r->prot & VM_W) ? MMU_WRITE : 0) | (r->prot & VM_X ? 0 : MMU_NX);
}

#endif
