/*
 * Virtual memory manager: page tables through the recursive slot
 * (RECURSIVE_SLOT in <pagoda/memlayout.h>), the kernel's own W^X address
 * space, kernel virtual ranges with immediate or demand backing, and other
 * address spaces. Errors are negative codes from <pagoda/errno.h>.
 */
#ifndef PAGODA_VMM_H
#define PAGODA_VMM_H

#include <pagoda/types.h>

/* Mapping flags. A page is always readable; NX clears execute. */
#define VMM_WRITE    (1u << 0)
#define VMM_USER     (1u << 1)
#define VMM_NX       (1u << 2)
#define VMM_GLOBAL   (1u << 3)
#define VMM_NOCACHE  (1u << 4) /* cache-disable */
#define VMM_WRTHRU   (1u << 5) /* write-through */
/* Write-combining, for framebuffers: through the PAT entry the arch points
 * at WC (x86_pat_init), or uncached (PCD|PWT) on a CPU without a PAT. */
#define VMM_WC       (1u << 6)
#define VMM_DEMAND   (1u << 8) /* vmm_alloc: reserve only, back on first touch */

/* Replace the boot tables' mappings: W^X kernel sections, guard pages, no
 * identity map; hand the PMM its bitmap window and temp mappings. */
void vmm_init(void);

/* Map one 4 KiB page. -E_EXIST if virt is mapped, -E_NOMEM without frames
 * for tables, -E_ALIGN / -E_INVAL for bad addresses, -E_RANGE in a part of
 * the kernel half outside the layout (<pagoda/memlayout.h>). */
int vmm_map(vaddr_t virt, paddr_t phys, unsigned flags);
/* Unmap one page; returns its frame through *phys. -E_NOENT if unmapped.
 * Empty tables go back to the PMM. Returns once every CPU that may cache
 * the page has flushed it (TLB shootdown), so the frame may be freed. */
int vmm_unmap(vaddr_t virt, paddr_t *phys);
/* Unmap every mapped page of [va, va + pages) (unmapped ones are skipped),
 * batched: one TLB shootdown per batch, not per page. With free_frames the
 * frames go back to the PMM after the shootdown. Returns the pages unmapped. */
size_t vmm_unmap_release(vaddr_t va, size_t pages, bool free_frames);
/* The frame and flags behind virt, or -E_NOENT. */
int vmm_translate(vaddr_t virt, paddr_t *phys, unsigned *flags);
/* Change the flags of a mapped page, or -E_NOENT; flushed on every CPU
 * that may cache it before it returns. */
int vmm_protect(vaddr_t virt, unsigned flags);
/* Range versions: pages consecutive pages. On error nothing is left half
 * done. Unmap and protect send one shootdown per batch of pages. */
int vmm_map_range(vaddr_t virt, paddr_t phys, size_t pages, unsigned flags);
int vmm_unmap_range(vaddr_t virt, size_t pages);
int vmm_protect_range(vaddr_t virt, size_t pages, unsigned flags);

/* A short-lived kernel mapping of any frame (TEMP_MAP_SLOTS at once per
 * CPU), in this CPU's own window: use and unmap it on the CPU that made it,
 * never hand the pointer to another CPU (no shootdown covers it). */
void *vmm_map_temp(paddr_t phys);
void vmm_unmap_temp(void *va);

/* Kernel virtual memory: size bytes (rounded up to pages) in the KVA region,
 * backed at once, or on first touch with VMM_DEMAND. NULL on failure. */
void *vmm_alloc(size_t size, unsigned flags);
/* Give back a vmm_alloc range: its frames and its addresses. */
void vmm_free(void *va);

/* Address spaces. The kernel half is shared; the user half is private. */
struct vmm_space;
struct vmm_space *vmm_space_create(void);
void vmm_space_switch(struct vmm_space *s);
void vmm_space_destroy(struct vmm_space *s);
/* Map into a space that need not be the live one (via FOREIGN_SLOT). */
int vmm_space_map(struct vmm_space *s, vaddr_t virt, paddr_t phys, unsigned flags);
int vmm_space_unmap(struct vmm_space *s, vaddr_t virt, paddr_t *phys);
int vmm_space_translate(struct vmm_space *s, vaddr_t virt, paddr_t *phys, unsigned *flags);
struct vmm_space *vmm_space_kernel(void);

#endif
