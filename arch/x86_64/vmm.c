/*
 * Page tables through the recursive slot: map, unmap, translate, protect.
 * (The temporary-mapping window is vmm_temp.c.)
 *
 * Theory of operation. The live PML4's entry 510 points at itself, so every
 * table of the live space is visible at a fixed virtual address
 * (<arch/paging.h> computes them). A second entry, 509, may point at another
 * space's PML4 while we edit it (vmm_attach); the same code then works
 * through that slot. No physical-to-virtual map is needed, ever.
 *
 * Invariants:
 *  - The leaf entry holds the real permissions. Intermediate entries are
 *    permissive (present, write, and user in the user half), so that they
 *    never restrict what a leaf grants.
 *  - A table's frame comes from the PMM and is zeroed through the window
 *    right after its parent entry is set (invlpg of the window address first,
 *    so no stale translation of the window page survives).
 *  - Unmapping the last entry of a PT, PD or (user-half) PDPT gives that table
 *    back, through the caller's batch: the frame reaches the PMM only after
 *    every CPU that may cache a walk through it has flushed (vmm_lock.c).
 *    Kernel-half PDPTs are never freed: every space shares them through its
 *    PML4 (vmm_space_create copies those entries), so a kernel mapping made
 *    on one CPU is seen by every CPU whatever space it runs. For the same
 *    reason a map never creates one: outside the kernel-half slots vmm_init
 *    set up, it fails with -E_RANGE (no PML4 entry ever needs propagating).
 *  - Every change to a present entry is followed by invlpg of the page here,
 *    and the page is queued in the batch for the other CPUs (unmap, protect).
 *    A new entry (not present before) needs no shootdown: x86 caches no
 *    not-present entries, and a freed table is flushed everywhere before
 *    the lock that covers its replacement is released.
 *
 * Locking: every function here runs under the page-table lock (vmm_lock.c,
 * LOCK_LEVEL_KPT), taken by the public API; these are the "locked" halves.
 *
 * Cost: a map or unmap touches at most four entries plus one 512-entry scan
 * per level when checking for an empty table; translate is four loads.
 *
 * Weaknesses: one lock for every page table (both halves, every space), and
 * 1 GiB pages are refused rather than split.
 */
#include <arch/arch.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "vmm_internal.h"
#include "x86.h"

_Static_assert(VMM_WRITE == PG_F_WRITE && VMM_USER == PG_F_USER && VMM_NX == PG_F_NX &&
                   VMM_GLOBAL == PG_F_GLOBAL && VMM_NOCACHE == PG_F_NOCACHE &&
                   VMM_WRTHRU == PG_F_WRTHRU && VMM_WC == PG_F_WC,
               "<arch/paging.h> mirrors the VMM_* flags");

#define LEAF_FLAGS (VMM_WRITE | VMM_USER | VMM_NX | VMM_GLOBAL | VMM_NOCACHE | VMM_WRTHRU | VMM_WC)

bool vmm_nx;
bool vmm_pat_wc;

/* The leaf bits for flags: VMM_WC needs the PAT entry x86_pat_init set to
 * write-combining; without it, uncached. Never write-back. */
static uint64_t leaf_bits(unsigned flags)
{
    flags &= LEAF_FLAGS;
    if ((flags & VMM_WC) && !vmm_pat_wc)
        flags = (flags & ~VMM_WC) | VMM_NOCACHE | VMM_WRTHRU;
    return pg_leaf_bits(flags, vmm_nx);
}

static inline volatile uint64_t *ent(vaddr_t a)
{
    return (volatile uint64_t *)a;
}

static uint64_t inter_bits(vaddr_t va)
{
    return PTE_PRESENT | PTE_WRITE | (va < USER_LIMIT ? PTE_USER : 0);
}

/* Addresses the page-table API may touch: canonical, not page 0 (so that
 * NULL always faults), and not one of the two windows onto the tables. */
static int check_va(vaddr_t va)
{
    if (!pg_is_canonical(va))
        return -E_INVAL;
    if (!IS_ALIGNED(va, PAGE_SIZE))
        return -E_ALIGN;
    if (va < PAGE_SIZE)
        return -E_INVAL;
    unsigned l4 = pg_l4(va);
    if (va >= USER_LIMIT && (l4 == RECURSIVE_SLOT || l4 == FOREIGN_SLOT))
        return -E_INVAL;
    /* The temp window's PT is static (.bss): a mapping made there would be
     * taken over by the next vmm_map_temp, and an unmap that emptied the PT
     * would hand a .bss frame to the PMM. */
    if (va >= TEMP_MAP_BASE)
        return -E_INVAL;
    return 0;
}

/* Leaf flags a page at va may carry. A global entry outlives a CR3 switch,
 * so in the user half it would show one space's page in the next. */
static int check_flags(vaddr_t va, unsigned flags)
{
    return va < USER_LIMIT && (flags & VMM_GLOBAL) ? -E_INVAL : 0;
}

uint64_t vmm_window_bits(void)
{
    return PTE_PRESENT | PTE_WRITE | (vmm_nx ? PTE_NX : 0);
}

paddr_t vmm_alloc_table(void)
{
    paddr_t pa = (paddr_t)pmm_alloc(1);
    if (!pa)
        return 0;
    void *p = vmm_map_temp(pa);
    memset(p, 0, PAGE_SIZE);
    vmm_unmap_temp(p);
    return pa;
}

/* Give *parent a fresh table, seen at `window` once installed, and zero it
 * there. The invlpg drops any translation cached while it was absent. */
static int new_table(volatile uint64_t *parent, vaddr_t window, uint64_t bits)
{
    paddr_t pa = (paddr_t)pmm_alloc(1);
    if (!pa)
        return -E_NOMEM;
    *parent = pa | bits;
    invlpg(window);
    memset((void *)window, 0, PAGE_SIZE);
    return 0;
}

/* Replace a 2 MiB page by a table of 512 equivalent 4 KiB pages. The table
 * is filled through the temp window before the PDE points at it, so the
 * range never stops being mapped, even when we are running from it. */
/* Set by a split, for the caller's batch (under the page-table lock): the
 * window address that showed the 2 MiB page now shows a PT, and another CPU
 * may cache the old meaning, so the shootdown must be a full one. */
static bool split_done;

static int split_2m(volatile uint64_t *pde, vaddr_t va, vaddr_t window)
{
    uint64_t old = *pde;
    paddr_t pa = (paddr_t)pmm_alloc(1);
    if (!pa)
        return -E_NOMEM;
    uint64_t *t = vmm_map_temp(pa);
    for (unsigned i = 0; i < PG_ENTRIES; i++)
        t[i] = pg_split_entry(old, i);
    vmm_unmap_temp(t);
    *pde = pa | inter_bits(va);
    invlpg(ALIGN_DOWN(va, PG_2M)); /* the 2 MiB TLB entry */
    invlpg(window);
    split_done = true;
    return 0;
}

enum walk_mode { WALK_LOOKUP, WALK_CREATE, WALK_SPLIT };

/*
 * Find the PTE of va, step by step from the PML4 down:
 *   WALK_LOOKUP  stop with -E_NOENT at a missing table;
 *   WALK_CREATE  add missing tables; a 2 MiB page there means -E_EXIST;
 *   WALK_SPLIT   split a 2 MiB page so that one 4 KiB page can change.
 * A 2 MiB page met in WALK_LOOKUP returns 1 with *out = its PDE.
 */
static int walk(unsigned slot, vaddr_t va, enum walk_mode mode, volatile uint64_t **out)
{
    volatile uint64_t *l4e = ent(pg_pml4e_addr(slot, va));
    volatile uint64_t *l3e = ent(pg_pdpte_addr(slot, va));
    volatile uint64_t *l2e = ent(pg_pde_addr(slot, va));
    volatile uint64_t *l1e = ent(pg_pte_addr(slot, va));
    int rc;

    /* PML4 entry -> the PDPT, seen at the page holding l3e. Only the user
     * half gets new PDPTs here: the kernel half's are made by vmm_init
     * (vmm_ensure_pdpt) and shared by every space, and one made later would
     * reach only this space and never be freed. */
    if (!(*l4e & PTE_PRESENT)) {
        if (mode != WALK_CREATE)
            return -E_NOENT;
        if (va >= USER_LIMIT)
            return -E_RANGE;
        if ((rc = new_table(l4e, pg_table_of((vaddr_t)l3e), inter_bits(va))))
            return rc;
    }
    /* PDPT entry -> the PD. We never make 1 GiB pages, nor take them. */
    if (!(*l3e & PTE_PRESENT)) {
        if (mode != WALK_CREATE)
            return -E_NOENT;
        if ((rc = new_table(l3e, pg_table_of((vaddr_t)l2e), inter_bits(va))))
            return rc;
    } else if (*l3e & PTE_HUGE) {
        return mode == WALK_CREATE ? -E_EXIST : -E_INVAL;
    }
    /* PD entry -> the PT, or a 2 MiB page the trampoline left. */
    if (!(*l2e & PTE_PRESENT)) {
        if (mode != WALK_CREATE)
            return -E_NOENT;
        if ((rc = new_table(l2e, pg_table_of((vaddr_t)l1e), inter_bits(va))))
            return rc;
    } else if (*l2e & PTE_HUGE) {
        if (mode == WALK_CREATE)
            return -E_EXIST;
        if (mode == WALK_LOOKUP) {
            *out = l2e;
            return 1;
        }
        if ((rc = split_2m(l2e, va, pg_table_of((vaddr_t)l1e))))
            return rc;
    }
    *out = l1e;
    return 0;
}

/* The PTE of a page-aligned, usable va, as walk() finds it. */
static int find_leaf(unsigned slot, vaddr_t va, enum walk_mode mode, volatile uint64_t **pte)
{
    int rc = check_va(va);
    return rc ? rc : walk(slot, va, mode, pte);
}

int vmm_map_in(unsigned slot, vaddr_t virt, paddr_t phys, unsigned flags)
{
    if (!IS_ALIGNED(phys, PAGE_SIZE))
        return -E_ALIGN;
    if (phys & ~PTE_ADDR)
        return -E_INVAL;
    volatile uint64_t *pte;
    int rc = check_flags(virt, flags);
    if (!rc)
        rc = find_leaf(slot, virt, WALK_CREATE, &pte);
    if (rc)
        return rc;
    if (*pte & PTE_PRESENT)
        return -E_EXIST;
    *pte = phys | leaf_bits(flags);
    invlpg(virt); /* a CPU may cache "not present" too */
    return 0;
}

/* No entry present in the table at `window`? The scan starts at entry
 * `from` and wraps: after clearing entry i, its neighbours are the likeliest
 * to be present, so freeing a run of pages costs O(1) per page, not O(512). */
static bool table_empty(vaddr_t window, unsigned from)
{
    volatile uint64_t *t = ent(window);
    for (unsigned n = 0; n < PG_ENTRIES; n++)
        if (t[(from + n + 1) % PG_ENTRIES] & PTE_PRESENT)
            return false;
    return true;
}

int vmm_map_2m_locked(unsigned slot, vaddr_t virt, paddr_t phys, unsigned flags,
                      struct vmm_batch *b)
{
    if (!IS_ALIGNED(virt, PG_2M) || !IS_ALIGNED(phys, PG_2M))
        return -E_ALIGN;
    if (check_flags(virt, flags))
        return -E_INVAL;
    /* Create the tables down to the PD through a 4 KiB walk, then drop the
     * PT that walk made (it is empty) in favour of the large page. */
    volatile uint64_t *pte;
    int rc = find_leaf(slot, virt, WALK_CREATE, &pte);
    if (rc)
        return rc;
    volatile uint64_t *pde = ent(pg_pde_addr(slot, virt));
    vaddr_t pt = pg_table_of((vaddr_t)pte);
    if (!table_empty(pt, 0))
        return -E_EXIST;
    paddr_t old = *pde & PTE_ADDR;
    uint64_t bits = leaf_bits(flags);
    if (bits & PTE_HUGE) /* the PAT bit sits at 12 in a large page */
        bits = (bits & ~PTE_HUGE) | PTE_PAT_HUGE;
    *pde = phys | bits | PTE_HUGE;
    invlpg(pt);
    invlpg(virt);
    vmm_batch_page(b, virt); /* the old PT may be cached elsewhere */
    vmm_batch_table(b, old);
    return 0;
}

/* Unlink the table under *parent when it is empty, `cleared` being the
 * entry of that table just cleared, and queue its frame in b (freed after
 * the shootdown: another CPU's paging-structure cache may still walk it).
 * True if unlinked. */
static bool free_if_empty(volatile uint64_t *parent, volatile uint64_t *cleared,
                          struct vmm_batch *b)
{
    vaddr_t window = pg_table_of((vaddr_t)cleared);
    if (!table_empty(window, (unsigned)(((vaddr_t)cleared & PAGE_MASK) / 8)))
        return false;
    paddr_t pa = *parent & PTE_ADDR;
    *parent = 0;
    invlpg(window); /* here; elsewhere the batch's full flush */
    vmm_batch_table(b, pa);
    return true;
}

int vmm_unmap_in(unsigned slot, vaddr_t virt, paddr_t *phys, struct vmm_batch *b)
{
    volatile uint64_t *pte;
    split_done = false;
    int rc = find_leaf(slot, virt, WALK_SPLIT, &pte);
    if (split_done)
        b->tables = true;
    if (rc)
        return rc;
    if (!(*pte & PTE_PRESENT))
        return -E_NOENT;
    if (phys)
        *phys = *pte & PTE_ADDR;
    *pte = 0;
    invlpg(virt);
    vmm_batch_page(b, virt);

    /* Give back the tables this emptied, from the PT upwards. */
    volatile uint64_t *l3e = ent(pg_pdpte_addr(slot, virt));
    volatile uint64_t *l2e = ent(pg_pde_addr(slot, virt));
    if (!free_if_empty(l2e, pte, b))
        return 0;
    if (!free_if_empty(l3e, l2e, b))
        return 0;
    if (virt < USER_LIMIT) /* kernel-half PDPTs are shared: keep them */
        free_if_empty(ent(pg_pml4e_addr(slot, virt)), l3e, b);
    return 0;
}

int vmm_translate_in(unsigned slot, vaddr_t virt, paddr_t *phys, unsigned *flags)
{
    if (!pg_is_canonical(virt))
        return -E_INVAL;
    volatile uint64_t *e;
    int rc = walk(slot, ALIGN_DOWN(virt, PAGE_SIZE), WALK_LOOKUP, &e);
    if (rc < 0)
        return rc;
    uint64_t v = *e;
    if (!(v & PTE_PRESENT))
        return -E_NOENT;
    if (phys)
        *phys = rc == 1 ? (v & PTE_ADDR_2M) + (virt & (PG_2M - 1))
                        : (v & PTE_ADDR) + (virt & PAGE_MASK);
    if (flags && rc == 1) /* a large page: PS is not PAT, bit 12 is */
        v = (v & ~PTE_HUGE) | ((v & PTE_PAT_HUGE) ? PTE_HUGE : 0);
    if (flags)
        *flags = pg_entry_flags(v);
    return 0;
}

int vmm_protect_in(unsigned slot, vaddr_t virt, unsigned flags, struct vmm_batch *b)
{
    volatile uint64_t *pte;
    int rc = check_flags(virt, flags);
    split_done = false;
    if (!rc)
        rc = find_leaf(slot, virt, WALK_SPLIT, &pte);
    if (split_done)
        b->tables = true;
    if (rc)
        return rc;
    if (!(*pte & PTE_PRESENT))
        return -E_NOENT;
    *pte = (*pte & PTE_ADDR) | leaf_bits(flags);
    invlpg(virt);
    vmm_batch_page(b, virt);
    return 0;
}

int vmm_ensure_pdpt(unsigned slot, unsigned l4)
{
    vaddr_t va = pg_make(l4, 0, 0, 0, 0);
    volatile uint64_t *l4e = ent(pg_pml4e_addr(slot, va));
    if (*l4e & PTE_PRESENT)
        return 0;
    return new_table(l4e, pg_table_of(pg_pdpte_addr(slot, va)), inter_bits(va));
}

int vmm_check_va(vaddr_t va)
{
    return check_va(va);
}
