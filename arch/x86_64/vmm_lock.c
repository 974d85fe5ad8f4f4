/*
 * The page-table lock, the shootdown batch, and the public page-table API
 * (vmm_map, vmm_unmap, vmm_translate, vmm_protect and their ranges).
 *
 * Theory of operation
 * -------------------
 * Locking. One spinlock, LOCK_LEVEL_KPT, covers every page-table edit: the
 * kernel half (shared by every space and so by every CPU), the live space's
 * user half, and the foreign slot (PML4[509] of the live PML4, which CPUs
 * on the same space share). It is taken with plain spin_lock: interrupts
 * stay as the caller had them, no interrupt handler edits page tables, and a
 * CPU spinning for it answers shootdowns (spin_wait_hook), so the holder may
 * wait for acknowledgements with it held. Under it: the PMM (tables, frees;
 * LOCK_LEVEL_PMM is inner) and the shootdown (tlb.c, which needs no lock of
 * its own: each CPU has its own request slot).
 *
 * The protocol, for an unmap or a protect (the order is what makes it safe):
 *   1. under the lock, clear (or weaken) the entry, and invlpg it here;
 *   2. queue the page in the batch; queue the frames that must not be reused
 *      yet (page tables the unmap emptied; the leaf frames when this code
 *      frees them, vmm_unmap_release);
 *   3. at the end of the operation, or when the batch is full: a full fence,
 *      then read the targets (every other online CPU for the kernel half and
 *      the kernel space; the space's `active` mask for a user space), send
 *      one request naming the batch's span (a full flush past TLB_RANGE_MAX
 *      pages, or when a page table was unlinked: the recursive window's
 *      translation of that table is cached under its own address), and
 *      wait until every target has flushed;
 *   4. only then free the queued frames, and release the lock.
 * A CPU that could still translate through the old entry is in the target
 * set (or switches CR3, which flushes), and it acknowledges only after its
 * flush; so no CPU can read or write a frame through a stale entry once the
 * PMM may hand it out again. Holding the lock through step 3 also means
 * that nobody can install a new table where a freed one may still sit in
 * another CPU's paging-structure cache. A caller that frees the frame
 * vmm_unmap returned is safe for the same reason: the call returns after
 * step 3.
 *
 * Batching: vmm_unmap_range, vmm_protect_range and vmm_unmap_release
 * (vmm_free) queue up to VMM_BATCH_PAGES pages and send one IPI per target
 * per batch, not one per page.
 *
 * Cost: the lock, the walk, and when another CPU is online one IPI per
 * target and a wait of one round trip per batch.
 *
 * Weaknesses: one lock serialises every page-table edit on every CPU; a
 * shootdown for the kernel half goes to every online CPU, even those that
 * never touched the page.
 */
#include <arch/arch.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/spinlock.h>
#include <pagoda/tlb.h>

#include "vmm_internal.h"
#include "x86.h"

static spinlock_t pt_lock = SPINLOCK_INIT("vmm_pt", LOCK_LEVEL_KPT);
static struct vmm_batch batch; /* guarded by pt_lock */

void vmm_batch_page(struct vmm_batch *b, vaddr_t va)
{
    if (!b->pages || va < b->lo)
        b->lo = va;
    if (!b->pages || va + PAGE_SIZE > b->hi)
        b->hi = va + PAGE_SIZE;
    b->pages++;
}

void vmm_batch_frame(struct vmm_batch *b, paddr_t pa)
{
    if (b->nframes == ARRAY_SIZE(b->frames))
        panic("vmm: shootdown batch overflow (%u frames)", b->nframes);
    b->frames[b->nframes++] = pa;
}

void vmm_batch_table(struct vmm_batch *b, paddr_t pa)
{
    vmm_batch_frame(b, pa);
    b->tables = true;
}

/* Room for one more unmap: its leaf, and up to three tables it empties. */
static bool batch_room(const struct vmm_batch *b)
{
    return b->nframes + 4 <= ARRAY_SIZE(b->frames) && b->pages < VMM_BATCH_PAGES;
}

/* Who may cache what the batch changed. The fence orders our page-table
 * stores before the read of `active`, against vmm_space_switch's store of
 * its bit before its CR3 load: either we see the bit, or that CPU's walk
 * comes after our stores. */
static uint32_t batch_targets(const struct vmm_batch *b)
{
    if (b->local_only)
        return 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t others = tlb_others_online();
    if (!b->space || b->space == &vmm_kernel_space)
        return others;
    return __atomic_load_n(&b->space->active, __ATOMIC_SEQ_CST) & others;
}

void vmm_batch_flush(struct vmm_batch *b)
{
    if (b->pages) {
        size_t span = (b->hi - b->lo) / PAGE_SIZE;
        uint32_t t = batch_targets(b);
        if (t)
            tlb_shootdown(t, b->lo,
                          span > TLB_RANGE_MAX || b->tables ? TLB_FLUSH_ALL : span);
    }
    for (unsigned i = 0; i < b->nframes; i++)
        pmm_free((void *)b->frames[i], 1);
    b->pages = 0;
    b->nframes = 0;
    b->lo = b->hi = 0;
    b->tables = false;
}

struct vmm_batch *vmm_pt_lock(struct vmm_space *space)
{
    spin_lock(&pt_lock);
    batch.space = space;
    batch.local_only = false;
    return &batch;
}

void vmm_pt_unlock(void)
{
    vmm_batch_flush(&batch);
    batch.space = NULL;
    spin_unlock(&pt_lock);
}

bool vmm_pt_held(void) { return spin_held(&pt_lock); }

void vmm_pt_abandon(void)
{
    if (vmm_pt_held())
        vmm_pt_unlock(); /* what was cleared is flushed, what was queued freed */
}

/* The batch's space for a page of the live space. */
static struct vmm_space *space_of(vaddr_t va)
{
    return va < USER_LIMIT ? vmm_live() : NULL;
}

/* ---------------------------------------------------------------- public API */

int vmm_map(vaddr_t virt, paddr_t phys, unsigned flags)
{
    vmm_pt_lock(space_of(virt));
    int rc = vmm_map_in(RECURSIVE_SLOT, virt, phys, flags);
    vmm_pt_unlock();
    return rc;
}

int vmm_unmap(vaddr_t virt, paddr_t *phys)
{
    struct vmm_batch *b = vmm_pt_lock(space_of(virt));
    int rc = vmm_unmap_in(RECURSIVE_SLOT, virt, phys, b);
    vmm_pt_unlock();
    return rc;
}

int vmm_unmap_local_only(vaddr_t virt, paddr_t *phys)
{
    struct vmm_batch *b = vmm_pt_lock(space_of(virt));
    b->local_only = true;
    int rc = vmm_unmap_in(RECURSIVE_SLOT, virt, phys, b);
    vmm_pt_unlock();
    return rc;
}

int vmm_translate(vaddr_t virt, paddr_t *phys, unsigned *flags)
{
    vmm_pt_lock(NULL);
    int rc = vmm_translate_in(RECURSIVE_SLOT, virt, phys, flags);
    vmm_pt_unlock();
    return rc;
}

int vmm_protect(vaddr_t virt, unsigned flags)
{
    struct vmm_batch *b = vmm_pt_lock(space_of(virt));
    int rc = vmm_protect_in(RECURSIVE_SLOT, virt, flags, b);
    vmm_pt_unlock();
    return rc;
}

int vmm_map_2m_in(unsigned slot, vaddr_t virt, paddr_t phys, unsigned flags)
{
    struct vmm_batch *b = vmm_pt_lock(space_of(virt));
    int rc = vmm_map_2m_locked(slot, virt, phys, flags, b);
    vmm_pt_unlock();
    return rc;
}

int vmm_map_range(vaddr_t virt, paddr_t phys, size_t pages, unsigned flags)
{
    struct vmm_batch *b = vmm_pt_lock(space_of(virt));
    int rc = 0;
    for (size_t i = 0; i < pages && !rc; i++) {
        rc = vmm_map_in(RECURSIVE_SLOT, virt + i * PAGE_SIZE, phys + i * PAGE_SIZE, flags);
        if (rc) {
            while (i-- > 0) { /* undo: the caller still owns the frames */
                if (!batch_room(b))
                    vmm_batch_flush(b);
                vmm_unmap_in(RECURSIVE_SLOT, virt + i * PAGE_SIZE, NULL, b);
            }
        }
    }
    vmm_pt_unlock();
    return rc;
}

/* All of [virt, virt + pages) mapped? Checked first, under the lock, so
 * that a range call either does everything or nothing. */
static int range_mapped(vaddr_t virt, size_t pages)
{
    for (size_t i = 0; i < pages; i++) {
        int rc = vmm_check_va(virt + i * PAGE_SIZE);
        if (!rc)
            rc = vmm_translate_in(RECURSIVE_SLOT, virt + i * PAGE_SIZE, NULL, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

int vmm_unmap_range(vaddr_t virt, size_t pages)
{
    struct vmm_batch *b = vmm_pt_lock(space_of(virt));
    int rc = range_mapped(virt, pages);
    for (size_t i = 0; !rc && i < pages; i++) {
        if (!batch_room(b))
            vmm_batch_flush(b);
        rc = vmm_unmap_in(RECURSIVE_SLOT, virt + i * PAGE_SIZE, NULL, b);
    }
    vmm_pt_unlock();
    return rc;
}

int vmm_protect_range(vaddr_t virt, size_t pages, unsigned flags)
{
    struct vmm_batch *b = vmm_pt_lock(space_of(virt));
    int rc = range_mapped(virt, pages);
    for (size_t i = 0; !rc && i < pages; i++) {
        if (!batch_room(b))
            vmm_batch_flush(b);
        rc = vmm_protect_in(RECURSIVE_SLOT, virt + i * PAGE_SIZE, flags, b);
    }
    vmm_pt_unlock();
    return rc;
}

size_t vmm_unmap_release(vaddr_t va, size_t pages, bool free_frames)
{
    struct vmm_batch *b = vmm_pt_lock(space_of(va));
    size_t n = 0;
    for (size_t i = 0; i < pages; i++) {
        if (!batch_room(b))
            vmm_batch_flush(b);
        paddr_t pa;
        if (vmm_unmap_in(RECURSIVE_SLOT, va + i * PAGE_SIZE, &pa, b) == 0) {
            n++;
            if (free_frames)
                vmm_batch_frame(b, pa);
        }
    }
    vmm_pt_unlock();
    return n;
}
