/*
 * x86_64 four-level paging arithmetic: entry bits, table indices, and the
 * addresses at which the recursive slot shows every page-table entry.
 *
 * Pure integer arithmetic with no side effects, so the host tests compile it
 * (tests/host/test_paging.c). The code that dereferences these addresses is
 * arch/x86_64/vmm*.c.
 *
 * How the recursive slot works. PML4[R] points back at the PML4 itself. A
 * virtual address is four 9-bit indices (l4, l3, l2, l1) and a 12-bit offset:
 *
 *   (R,  l4, l3, l2) * 8 + l1*8   -> the PTE   of (l4, l3, l2, l1): the CPU
 *                                    walks PML4->PML4 (as PDPT)->PDPT (as PD)
 *                                    ->PD (as PT), so the "page" is the PT;
 *   (R,  R,  l4, l3) + l2*8       -> the PDE;
 *   (R,  R,  R,  l4) + l3*8       -> the PDPTE;
 *   (R,  R,  R,  R ) + l4*8       -> the PML4E.
 *
 * With R = 510 the window starts at 0xffffff0000000000. Bit 47 of every
 * address the slot forms is 1 (R >= 256), so the top 16 bits must be set:
 * forgetting the sign extension gives a non-canonical address and a #GP.
 *
 * The foreign slot F (509) points at ANOTHER space's PML4, whose own entry
 * R points at itself. Its tables are then at (F, l4, l3, l2) for the PTEs,
 * (F, R, l4, l3) for the PDEs, (F, R, R, l4) and (F, R, R, R): the first
 * index chooses the space, the rest recurse inside it. The helpers take that
 * first index as `slot`.
 */
#ifndef PAGODA_ARCH_PAGING_H
#define PAGODA_ARCH_PAGING_H

#include <pagoda/memlayout.h>
#include <pagoda/types.h>

/* Page-table entry bits. */
#define PTE_PRESENT  (1ULL << 0)
#define PTE_WRITE    (1ULL << 1)
#define PTE_USER     (1ULL << 2)
#define PTE_PWT      (1ULL << 3)
#define PTE_PCD      (1ULL << 4)
#define PTE_ACCESSED (1ULL << 5)
#define PTE_DIRTY    (1ULL << 6)
#define PTE_HUGE     (1ULL << 7) /* PS in a PDE/PDPTE; PAT in a PTE */
#define PTE_GLOBAL   (1ULL << 8)
#define PTE_PAT_HUGE (1ULL << 12) /* PAT in a PDE with PS */
#define PTE_NX       (1ULL << 63)
#define PTE_ADDR     0x000ffffffffff000ULL
#define PTE_ADDR_2M  0x000fffffffe00000ULL

#define PG_ENTRIES   512
#define PG_2M        (PAGE_SIZE * PG_ENTRIES)
#define PG_1G        (PG_2M * PG_ENTRIES)
#define PG_512G      (PG_1G * PG_ENTRIES)

/* Table indices of a virtual address. */
static inline unsigned pg_l4(vaddr_t va) { return (unsigned)(va >> 39) & 511; }
static inline unsigned pg_l3(vaddr_t va) { return (unsigned)(va >> 30) & 511; }
static inline unsigned pg_l2(vaddr_t va) { return (unsigned)(va >> 21) & 511; }
static inline unsigned pg_l1(vaddr_t va) { return (unsigned)(va >> 12) & 511; }

/* Copy bit 47 into bits 48..63: the only addresses the CPU accepts. */
static inline vaddr_t pg_canonical(uint64_t a)
{
    return (a & (1ULL << 47)) ? (a | 0xffff000000000000ULL) : (a & 0x0000ffffffffffffULL);
}

static inline bool pg_is_canonical(vaddr_t va) { return pg_canonical(va) == va; }

/* The address made of four indices and an offset. */
static inline vaddr_t pg_make(unsigned l4, unsigned l3, unsigned l2, unsigned l1, uint64_t off)
{
    return pg_canonical(((uint64_t)l4 << 39) | ((uint64_t)l3 << 30) | ((uint64_t)l2 << 21) |
                        ((uint64_t)l1 << 12) | off);
}

/* Where the entries for `va` are seen through `slot` (RECURSIVE_SLOT for the
 * live space, FOREIGN_SLOT for the attached one). */
static inline vaddr_t pg_pte_addr(unsigned slot, vaddr_t va)
{
    return pg_make(slot, pg_l4(va), pg_l3(va), pg_l2(va), (uint64_t)pg_l1(va) * 8);
}
static inline vaddr_t pg_pde_addr(unsigned slot, vaddr_t va)
{
    return pg_make(slot, RECURSIVE_SLOT, pg_l4(va), pg_l3(va), (uint64_t)pg_l2(va) * 8);
}
static inline vaddr_t pg_pdpte_addr(unsigned slot, vaddr_t va)
{
    return pg_make(slot, RECURSIVE_SLOT, RECURSIVE_SLOT, pg_l4(va), (uint64_t)pg_l3(va) * 8);
}
static inline vaddr_t pg_pml4e_addr(unsigned slot, vaddr_t va)
{
    return pg_make(slot, RECURSIVE_SLOT, RECURSIVE_SLOT, RECURSIVE_SLOT,
                   (uint64_t)pg_l4(va) * 8);
}

/* The page holding an entry: the table itself, as the window shows it. */
static inline vaddr_t pg_table_of(vaddr_t entry_addr) { return ALIGN_DOWN(entry_addr, PAGE_SIZE); }

/* Leaf permissions from VMM_* flags (values mirrored here so that this header
 * needs only memlayout). `nx_ok`: the CPU has NX and EFER.NXE is on; without
 * it the NX bit is reserved and would fault, so it is dropped. */
#define PG_F_WRITE   (1u << 0)
#define PG_F_USER    (1u << 1)
#define PG_F_NX      (1u << 2)
#define PG_F_GLOBAL  (1u << 3)
#define PG_F_NOCACHE (1u << 4)
#define PG_F_WRTHRU  (1u << 5)
#define PG_F_WC      (1u << 6) /* PAT bit of a 4 KiB PTE: PAT entry 4 */

static inline uint64_t pg_leaf_bits(unsigned flags, bool nx_ok)
{
    uint64_t e = PTE_PRESENT;
    if (flags & PG_F_WRITE)
        e |= PTE_WRITE;
    if (flags & PG_F_USER)
        e |= PTE_USER;
    if ((flags & PG_F_NX) && nx_ok)
        e |= PTE_NX;
    if (flags & PG_F_GLOBAL)
        e |= PTE_GLOBAL;
    if (flags & PG_F_NOCACHE)
        e |= PTE_PCD;
    if (flags & PG_F_WRTHRU)
        e |= PTE_PWT;
    if (flags & PG_F_WC)
        e |= PTE_HUGE; /* bit 7 of a 4 KiB PTE is PAT (vmm_map_2m moves it to 12) */
    return e;
}

/* The VMM_* flags an entry grants (the inverse of pg_leaf_bits). */
static inline unsigned pg_entry_flags(uint64_t e)
{
    unsigned f = 0;
    if (e & PTE_WRITE)
        f |= PG_F_WRITE;
    if (e & PTE_USER)
        f |= PG_F_USER;
    if (e & PTE_NX)
        f |= PG_F_NX;
    if (e & PTE_GLOBAL)
        f |= PG_F_GLOBAL;
    if (e & PTE_PCD)
        f |= PG_F_NOCACHE;
    if (e & PTE_PWT)
        f |= PG_F_WRTHRU;
    if (e & PTE_HUGE)
        f |= PG_F_WC; /* a 4 KiB PTE's PAT bit; callers pass PDEs converted */
    return f;
}

/* The 512 4 KiB entries equivalent to one 2 MiB PDE: entry i of the new
 * table. PS goes, and the PAT bit moves from bit 12 to bit 7. */
static inline uint64_t pg_split_entry(uint64_t pde, unsigned i)
{
    uint64_t attrs = pde & ~(PTE_ADDR | PTE_HUGE | PTE_PAT_HUGE);
    if (pde & PTE_PAT_HUGE)
        attrs |= PTE_HUGE;
    return (pde & PTE_ADDR_2M) + (uint64_t)i * PAGE_SIZE + attrs;
}

#endif
