/*
 * The MMU contract: what the portable VM (src/mm/vm_*.c) asks of the
 * architecture, one page at a time, in a given address space. arch/x86_64
 * implements it over its recursive-window page tables (mmu.c); the host
 * tests implement it over a table in memory (tests/host/test_vm*.c).
 *
 * Flags are the VMM_* bits of <pagoda/vmm.h>: MMU_WRITE, MMU_NX, and the
 * leaf is always a user page. A page is always readable.
 */
#ifndef PAGODA_ARCH_MMU_H
#define PAGODA_ARCH_MMU_H

#include <pagoda/types.h>
#include <pagoda/vmm.h>

#define MMU_WRITE VMM_WRITE
#define MMU_NX VMM_NX

struct vmm_space;

/* A new user address space (kernel half shared), or NULL without memory. */
struct vmm_space *arch_mmu_create(void);
/* Free the space's page tables. Every leaf must be unmapped first: the
 * frames belong to the VM, which counts their references. */
void arch_mmu_destroy(struct vmm_space *s);
/* Make s the live space on this CPU (NULL: the kernel's). */
void arch_mmu_activate(struct vmm_space *s);

/* Map user page va to frame pa. 0, -E_EXIST, -E_NOMEM (tables). */
int arch_mmu_map(struct vmm_space *s, vaddr_t va, paddr_t pa, unsigned flags);
/* Unmap va; the frame comes back in *pa. 0 or -E_NOENT. Flushes the TLB. */
int arch_mmu_unmap(struct vmm_space *s, vaddr_t va, paddr_t *pa);
/* New flags for a mapped page. 0 or -E_NOENT. Flushes the TLB. */
int arch_mmu_protect(struct vmm_space *s, vaddr_t va, unsigned flags);
/* The frame and flags behind va: 0, or -E_NOENT when not mapped. */
int arch_mmu_query(struct vmm_space *s, vaddr_t va, paddr_t *pa, unsigned *flags);

/* Frames for user pages: one frame or 0; its contents are undefined. Every
 * frame lies below MMU_FRAME_LIMIT, so that the VM's per-frame reference
 * table stays small however much RAM there is (2 MiB at most). */
#define MMU_FRAME_LIMIT (4ULL << 30)
paddr_t arch_frame_alloc(void);
void arch_frame_free(paddr_t pa);
/* Frame contents, reached however the architecture can (a temp window). */
void arch_frame_zero(paddr_t pa);
void arch_frame_copy(paddr_t dst, paddr_t src);
/* Copy n bytes in or out of a frame at byte offset off (off + n <= 4096). */
void arch_frame_write(paddr_t pa, size_t off, const void *src, size_t n);
void arch_frame_read(paddr_t pa, size_t off, void *dst, size_t n);

#endif
