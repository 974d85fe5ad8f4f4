/*
 * The portable VM of user address spaces (src/mm/vm_*.c): regions with a
 * backing policy, copy-on-write fork, and the page-fault decision, over the
 * MMU contract of <arch/mmu.h>. Kernel-only callers: the process code
 * (src/kern/proc*.c); the host tests drive it over a fake MMU.
 *
 * Backing, per region:
 *   VM_BACK_ZERO    a read maps the shared read-only zero frame (no frame
 *                   is spent); the first write gives the page a private frame
 *   VM_BACK_DEMAND  the first touch of any kind maps a fresh zeroed frame
 * Pages written by the loader are private frames whatever the backing.
 * Copy-on-write: fork maps every private frame read-only in both spaces and
 * counts the extra reference; a write fault copies a frame that is still
 * shared, or takes over one whose other sharers are gone.
 *
 * SMP: each space has a lock (LOCK_LEVEL_VMM_SPACE) that every operation
 * below takes, so that a fault on one page from several CPUs at once
 * resolves once (vm_fault.c). Frame references are atomic: two spaces that
 * share a frame may be faulted on two CPUs at once. vm_region_find and
 * vm_region_of_kind do not lock: their result is good while the space's
 * regions do not change (its own process's system calls).
 */
#ifndef PAGODA_VM_H
#define PAGODA_VM_H

#include <pagoda/spinlock.h>
#include <pagoda/types.h>

/* Region permissions. */
#define VM_R 1u
#define VM_W 2u
#define VM_X 4u

enum vm_backing { VM_BACK_ZERO, VM_BACK_DEMAND };
enum vm_kind { VM_CODE, VM_DATA, VM_HEAP, VM_STACK, VM_MMAP, VM_GUARD };

#define VM_MAX_REGIONS 16

struct vm_region {
    vaddr_t start, end; /* [start, end), page-aligned; start == end: unused */
    unsigned prot;      /* VM_R | VM_W | VM_X; VM_GUARD regions have 0 */
    uint8_t backing;    /* enum vm_backing */
    uint8_t kind;       /* enum vm_kind */
};

/* What the process has done to its memory (the memstat system call). */
struct vm_counters {
    uint64_t demand_faults; /* fresh zeroed frames mapped on first touch */
    uint64_t zero_maps;     /* reads that mapped the zero frame */
    uint64_t zero_breaks;   /* writes that replaced the zero frame */
    uint64_t cow_copies;    /* write faults that copied a shared frame */
    uint64_t cow_takeovers; /* write faults on a frame no longer shared */
};

struct vm_as {
    spinlock_t lock; /* regions, tables, frames and counters of this space */
    struct vmm_space *mmu;
    struct vm_region r[VM_MAX_REGIONS]; /* sorted by start, unused at the end */
    unsigned nregions;
    uint64_t frames;      /* private or shared frames this space maps */
    uint64_t frame_limit; /* a fault that would pass it is out of memory */
    struct vm_counters c;
};

/* Page counts of one region or of a whole space, from the page tables. */
struct vm_usage {
    uint64_t resident; /* pages on a frame only this space maps */
    uint64_t zero;     /* pages on the shared zero frame */
    uint64_t shared;   /* pages on a frame another space maps too */
};

/* Why a fault was refused (vm_fault's negative results). */
enum vm_fault_err {
    VMF_OK = 0,
    VMF_NOREGION = 1, /* no region holds the address */
    VMF_GUARD = 2,    /* in the guard gap below the stack: stack overflow */
    VMF_PROT = 3,     /* the region does not allow the access */
    VMF_NOMEM = 4,    /* no frame (PMM empty or frame_limit reached) */
    VMF_KERNEL = 5,   /* a kernel-half address */
};
/* Access kinds for vm_fault. */
#define VM_ACC_READ 0u
#define VM_ACC_WRITE 1u
#define VM_ACC_EXEC 2u

/* ---- set-up (vm_frames.c) ---------------------------------------------- */

/* Give the VM its per-frame reference counts (one uint16_t per frame of
 * physical memory, zeroed, nframes of them) and the shared zero frame. */
void vm_init(uint16_t *refs, size_t nframes, paddr_t zero_frame);
paddr_t vm_zero_frame(void);
/* References the VM holds on a frame (0: not a VM frame). */
unsigned vm_frame_refs(paddr_t pa);

/* ---- address spaces and regions (vm_space.c) --------------------------- */

/* An empty space over a fresh MMU space. 0 or -E_NOMEM. */
int vm_as_init(struct vm_as *as, uint64_t frame_limit);
/* Unmap every page (dropping frame references, freeing frames whose last
 * reference goes) and free the MMU space. as is empty afterwards. */
void vm_as_destroy(struct vm_as *as);
/* Add region [start, end) (page-aligned, non-empty, user half, overlapping
 * no other). 0, -E_INVAL, -E_EXIST (overlap), -E_OVERFLOW (table full). */
int vm_region_add(struct vm_as *as, vaddr_t start, vaddr_t end, unsigned prot, enum vm_backing b,
                  enum vm_kind k);
/* The region holding va, or NULL. */
struct vm_region *vm_region_find(struct vm_as *as, vaddr_t va);
/* The first region of a kind, or NULL. */
struct vm_region *vm_region_of_kind(struct vm_as *as, enum vm_kind k);
/* Move a region's end (grow into free space, or shrink, dropping pages).
 * 0, -E_INVAL, -E_EXIST (would overlap). */
int vm_region_resize(struct vm_as *as, struct vm_region *r, vaddr_t new_end);
/* Remove [start, end) from every region it covers, dropping the pages;
 * a region cut in the middle becomes two. 0, -E_INVAL or -E_OVERFLOW. */
int vm_unmap_range(struct vm_as *as, vaddr_t start, vaddr_t end);
/* A free gap of `len` bytes in [lo, hi), first fit; 0 if none. */
vaddr_t vm_find_gap(struct vm_as *as, vaddr_t lo, vaddr_t hi, uint64_t len);
/* Usage of one region (r) or of the whole space (r NULL). */
void vm_usage(struct vm_as *as, const struct vm_region *r, struct vm_usage *u);
/* Short names, for reports. */
const char *vm_kind_name(enum vm_kind k);
const char *vm_backing_name(const struct vm_region *r);

/* ---- faults, loading, fork (vm_fault.c) -------------------------------- */

/* The fault decision: make the access `acc` at va possible (map a demand
 * frame, the zero frame, copy or take over a CoW frame) and return 0, or
 * refuse with -VMF_*. */
int vm_fault(struct vm_as *as, vaddr_t va, unsigned acc);
/* Copy n bytes into the page at va (through its frame, whatever the region's
 * protection), giving the page a private frame first. For the loader and
 * for a new stack's arguments. 0 or -VMF_*. */
int vm_write_page(struct vm_as *as, vaddr_t va, const void *src, size_t n);
/* Make dst (initialised, empty) a copy-on-write copy of src: the same
 * regions, every page shared. 0 or -E_NOMEM (dst then holds a partial copy
 * for vm_as_destroy). */
int vm_as_fork(struct vm_as *dst, struct vm_as *src);
/* Tests only (NULL otherwise): called by vm_fault between looking at the
 * page and changing it, to hold the window open so that a fault race
 * happens on demand. */
extern void (*volatile vm_fault_window_hook)(void);
/* A short name for a -VMF_* code. */
const char *vm_fault_name(int err);

#endif
