/*
 * What happens on a user page fault, in one place: the fault decision, and
 * the two other ways pages come to be (the loader's writes, and fork).
 *
 * Theory of operation. vm_fault gets the address, the access (read, write,
 * instruction fetch) and the space, and decides:
 *   1. Kernel half, no region, or the guard gap: refuse (-VMF_KERNEL,
 *      -VMF_NOREGION, -VMF_GUARD). A guard gap is a region of kind VM_GUARD
 *      with no permissions, below the stack.
 *   2. The region forbids the access (a write to code, a fetch from the
 *      stack or the heap): refuse (-VMF_PROT).
 *   3. Not mapped: a read of a zero-page region maps the shared zero frame
 *      read-only (no frame spent); anything else maps a fresh zeroed frame
 *      with the region's permissions (demand paging).
 *   4. Mapped read-only in a writable region: copy-on-write. On the zero
 *      frame, or on a frame another space still maps, copy into a new frame
 *      (the zero frame's copy is just a zeroed frame); on a frame nobody else
 *      maps any more, take it over by making the entry writable.
 *   5. Mapped and allowed already: another CPU (or a stale TLB entry)
 *      resolved it; nothing to do.
 * A step that needs a frame and gets none refuses with -VMF_NOMEM, leaving
 * the page as it was.
 *
 * Locking. Everything above happens under the space's lock (as->lock,
 * LOCK_LEVEL_VMM_SPACE), from the region lookup to the last map, so two CPUs
 * that fault on one page of one space at once are serialised: the winner
 * does steps 3 or 4, and the loser finds the page mapped with the access it
 * needs (step 5) and returns 0 without spending a frame. The lock is held
 * across the frame allocation, the zeroing or copy, and the page-table
 * allocation (the lock order puts VMM_SPACE outside every allocator lock),
 * so no frame is ever allocated and then thrown away by a loser. Two spaces
 * that share a frame after fork have two locks: both may copy it at once
 * (each then drops its own reference, so the frame goes when the second
 * copy is made), and the take-over of step 4 stays safe because a frame
 * with one reference is mapped by this space alone, and only a fork of
 * this space, under this same lock, could add a second. The references
 * themselves are atomic (vm_frames.c). Fork holds the parent's lock; the
 * child is not visible to anyone yet.
 *
 * The lock is a plain spinlock: interrupts stay as the caller has them (a
 * user page fault arrives with them off). Another CPU's TLB may still hold
 * the read-only entry a CoW break replaced: a write through it faults
 * again, finds step 5 and retries, and the fault itself drops the stale
 * entry. (Unmaps and protections reach other CPUs by shootdown in the MMU
 * layer.)
 *
 * Cost: one region lookup, one MMU query, and at most one frame, one copy
 * and one map per fault. Weaknesses: no read-ahead or fault-around: every
 * page of a sequential walk faults once; one lock per space, held across a
 * page copy, serialises every fault of a many-threaded space.
 */
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/vm.h>

#include "vm_internal.h"

void (*volatile vm_fault_window_hook)(void);

/* Step 4: a write to a present, read-only page of a writable region. */
static int write_shared(struct vm_as *as, struct vm_region *r, vaddr_t va, paddr_t old)
{
    if (old != vm_zero_frame() && vm_frame_refs(old) == 1) {
        as->c.cow_takeovers++;
        return arch_mmu_protect(as->mmu, va, vm_mmu_flags(r, true)) ? -VMF_NOMEM : 0;
    }
    bool from_zero = old == vm_zero_frame();
    paddr_t pa = vm_frame_new(as, from_zero);
    if (!pa)
        return -VMF_NOMEM;
    if (!from_zero)
        arch_frame_copy(pa, old);
    vm_page_drop(as, va); /* one reference fewer on the old frame */
    if (arch_mmu_map(as->mmu, va, pa, vm_mmu_flags(r, true))) {
        vm_ref_dec(pa);
        as->frames--;
        arch_frame_free(pa);
        return -VMF_NOMEM;
    }
    if (from_zero)
        as->c.zero_breaks++;
    else
        as->c.cow_copies++;
    return 0;
}

static int fault_locked(struct vm_as *as, vaddr_t va, unsigned acc)
{
    struct vm_region *r = vm_region_find(as, va);
    if (!r)
        return -VMF_NOREGION;
    if (r->kind == VM_GUARD)
        return -VMF_GUARD;
    if (((acc & VM_ACC_WRITE) && !(r->prot & VM_W)) || ((acc & VM_ACC_EXEC) && !(r->prot & VM_X)))
        return -VMF_PROT;

    vaddr_t page = ALIGN_DOWN(va, PAGE_SIZE);
    bool write = acc & VM_ACC_WRITE;
    paddr_t pa;
    unsigned fl;
    int mapped = arch_mmu_query(as->mmu, page, &pa, &fl);
    if (vm_fault_window_hook)
        vm_fault_window_hook(); /* (tests: another CPU may decide meanwhile) */
    if (mapped == 0) {
        if (write && !(fl & MMU_WRITE))
            return write_shared(as, r, page, pa);
        return 0; /* step 5 */
    }
    if (!write && r->backing == VM_BACK_ZERO) {
        if (arch_mmu_map(as->mmu, page, vm_zero_frame(), vm_mmu_flags(r, false)))
            return -VMF_NOMEM;
        as->c.zero_maps++;
        return 0;
    }
    pa = vm_frame_new(as, true);
    if (!pa)
        return -VMF_NOMEM;
    if (arch_mmu_map(as->mmu, page, pa, vm_mmu_flags(r, true))) {
        vm_ref_dec(pa);
        as->frames--;
        arch_frame_free(pa);
        return -VMF_NOMEM;
    }
    as->c.demand_faults++;
    return 0;
}

int vm_fault(struct vm_as *as, vaddr_t va, unsigned acc)
{
    if (va >= USER_LIMIT)
        return -VMF_KERNEL;
    spin_lock(&as->lock);
    int rc = fault_locked(as, va, acc);
    spin_unlock(&as->lock);
    return rc;
}

static int write_locked(struct vm_as *as, vaddr_t va, const void *src, size_t n)
{
    vaddr_t page = ALIGN_DOWN(va, PAGE_SIZE);
    size_t off = (size_t)(va - page);
    if (off + n > PAGE_SIZE)
        return -VMF_PROT;
    struct vm_region *r = vm_region_find(as, va);
    if (!r)
        return -VMF_NOREGION;
    if (r->kind == VM_GUARD)
        return -VMF_GUARD;
    paddr_t pa;
    unsigned fl;
    if (arch_mmu_query(as->mmu, page, &pa, &fl) != 0 || pa == vm_zero_frame() ||
        vm_frame_refs(pa) > 1) {
        /* Give the page a private frame, as a write fault would, but with
         * the region's own permissions (code stays read-only). */
        bool had = arch_mmu_query(as->mmu, page, &pa, &fl) == 0;
        paddr_t np = vm_frame_new(as, true);
        if (!np)
            return -VMF_NOMEM;
        if (had) {
            if (pa != vm_zero_frame())
                arch_frame_copy(np, pa);
            vm_page_drop(as, page);
        }
        if (arch_mmu_map(as->mmu, page, np, vm_mmu_flags(r, true))) {
            vm_ref_dec(np);
            as->frames--;
            arch_frame_free(np);
            return -VMF_NOMEM;
        }
        pa = np;
    }
    arch_frame_write(pa, off, src, n);
    return 0;
}

int vm_write_page(struct vm_as *as, vaddr_t va, const void *src, size_t n)
{
    spin_lock(&as->lock);
    int rc = write_locked(as, va, src, n);
    spin_unlock(&as->lock);
    return rc;
}

static int fork_locked(struct vm_as *dst, struct vm_as *src)
{
    dst->frame_limit = src->frame_limit;
    for (unsigned i = 0; i < src->nregions; i++) {
        const struct vm_region *r = &src->r[i];
        dst->r[i] = *r;
        dst->nregions = i + 1;
        for (vaddr_t va = r->start; va < r->end; va += PAGE_SIZE) {
            paddr_t pa;
            unsigned fl;
            if (arch_mmu_query(src->mmu, va, &pa, &fl) != 0)
                continue;
            /* Both sides lose write access, so the first write of either
             * one faults and copies (or takes over). */
            unsigned ro = fl & ~MMU_WRITE;
            if (arch_mmu_map(dst->mmu, va, pa, ro))
                return -E_NOMEM;
            if (pa != vm_zero_frame()) {
                vm_ref_inc(pa);
                dst->frames++;
            }
            if (fl & MMU_WRITE)
                arch_mmu_protect(src->mmu, va, ro);
        }
    }
    return 0;
}

int vm_as_fork(struct vm_as *dst, struct vm_as *src)
{
    spin_lock(&src->lock);
    int rc = fork_locked(dst, src);
    spin_unlock(&src->lock);
    return rc;
}
