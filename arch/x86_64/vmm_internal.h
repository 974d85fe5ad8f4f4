/*
 * Private to the VMM files in arch/x86_64 (vmm.c, vmm_init.c, vmm_kva.c,
 * vmm_lock.c, vmm_space.c, vmm_temp.c and their tests). Every page-table operation takes the PML4
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
    /* CPUs whose CR3 holds this space (bit i: CPU i), set before the CR3
     * load and cleared after the next one (vmm_space.c): the targets of a
     * shootdown in its user half. */
    volatile uint32_t active;
};

/* What one page-table operation changed, for the other CPUs' TLBs: the span
 * of pages to flush there and the frames (page tables, and the leaf frames
 * of vmm_unmap_release) that may go back to the PMM only after they have.
 * One batch exists, guarded by the page-table lock (vmm_lock.c). */
#define VMM_BATCH_PAGES 256
struct vmm_batch {
    struct vmm_space *space; /* whose user half; NULL: the kernel half */
    vaddr_t lo, hi;          /* the span of the queued pages */
    size_t pages;
    unsigned nframes;
    paddr_t frames[VMM_BATCH_PAGES + 8];
    bool tables;     /* a page table was unlinked: the flush is a full one */
    bool local_only; /* tests only: skip the shootdown, to watch a stale TLB */
};
/* Queue a page whose entry changed / a frame to free after the flush. */
void vmm_batch_page(struct vmm_batch *b, vaddr_t va);
void vmm_batch_frame(struct vmm_batch *b, paddr_t pa);
/* Queue the frame of a page table just unlinked. Other CPUs may cache more
 * than walks through it: the recursive window's own translation of that
 * table (a different address from any page it mapped), which a later
 * table in its place would otherwise be read and written through. So the
 * batch's shootdown becomes a full flush. */
void vmm_batch_table(struct vmm_batch *b, paddr_t pa);

/* True once EFER.NXE is on (the CPU has NX): only then may PTE_NX be set. */
extern bool vmm_nx;
/* True once PAT entry 4 is write-combining (x86_pat_init): only then does
 * VMM_WC set the PTE's PAT bit; otherwise it maps uncached. */
extern bool vmm_pat_wc;
/* The kernel's own space (after vmm_init). */
extern struct vmm_space vmm_kernel_space;
/* The space this CPU's CR3 holds (NULL before vmm_init). */
struct vmm_space *vmm_live(void);
/* An AP entering the kernel: its CR3 holds the kernel space. */
void vmm_cpu_init(void);

/* The single-page operations behind the public API, through `slot`, with
 * the page-table lock held (vmm_lock.c takes it). Changes to present
 * entries go into the batch b for the shootdown. */
int vmm_map_in(unsigned slot, vaddr_t virt, paddr_t phys, unsigned flags);
int vmm_unmap_in(unsigned slot, vaddr_t virt, paddr_t *phys, struct vmm_batch *b);
int vmm_translate_in(unsigned slot, vaddr_t virt, paddr_t *phys, unsigned *flags);
int vmm_protect_in(unsigned slot, vaddr_t virt, unsigned flags, struct vmm_batch *b);
int vmm_map_2m_locked(unsigned slot, vaddr_t virt, paddr_t phys, unsigned flags,
                      struct vmm_batch *b);
/* Make sure the PDPT under PML4 entry `l4` exists (kernel-half sharing). */
int vmm_ensure_pdpt(unsigned slot, unsigned l4);
/* 0 if the page-table API may touch va (vmm.c's check_va). */
int vmm_check_va(vaddr_t va);
/* Map a 2 MiB page (for the split test; the VMM itself maps only 4 KiB).
 * Takes the page-table lock. */
int vmm_map_2m_in(unsigned slot, vaddr_t virt, paddr_t phys, unsigned flags);

/* The page-table lock (LOCK_LEVEL_KPT): every page-table edit, in both
 * halves and every space, and the foreign slot. vmm_pt_unlock flushes the
 * batch first: shootdown, then the queued frames to the PMM. */
struct vmm_batch *vmm_pt_lock(struct vmm_space *space);
void vmm_pt_unlock(void);
/* Flush the batch now (shootdown, frees) and start it again: for loops
 * that queue more than a batch holds. */
void vmm_batch_flush(struct vmm_batch *b);
/* For the shootdown tests alone: vmm_unmap with a local invlpg and no
 * shootdown, so that another CPU keeps its stale translation. */
int vmm_unmap_local_only(vaddr_t virt, paddr_t *phys);

/* Point FOREIGN_SLOT at s's PML4 (or use RECURSIVE_SLOT when s is live);
 * returns the slot to pass to the *_in functions. Pair with vmm_detach.
 * The caller holds the page-table lock: the slot is in the live PML4,
 * which other CPUs on the same space share. */
unsigned vmm_attach(struct vmm_space *s);
void vmm_detach(unsigned slot);
/* vmm_protect in any space (the MMU contract's protect). */
int vmm_space_protect(struct vmm_space *s, vaddr_t virt, unsigned flags);
/* Is the foreign slot attached by this CPU? (recovery) */
bool vmm_attached_here(void);

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
/* Kernel ranges now in the set; demand faults served, and those that found
 * the page already mapped by another CPU (the race's losers). */
size_t vmm_kva_ranges(void);
extern volatile uint64_t vmm_demand_faults, vmm_demand_races;
/* Tests: take or drop the range lock; CPUs queued for it behind its holder. */
void vmm_kva_lock_test(bool take);
unsigned vmm_kva_waiters(void);
/* Recovery: does this CPU hold the page-table / range-set lock? Release it
 * (an operation a recovery point abandoned). */
bool vmm_pt_held(void);
void vmm_pt_abandon(void);
bool vmm_kva_held(void);
void vmm_kva_abandon(void);
/* A short name for the part of the address space `va` is in. */
void vmm_describe(vaddr_t va, char *buf, size_t size);

#endif
