/*
 * User address spaces: a small sorted table of regions over an MMU space.
 *
 * Theory of operation. A space (struct vm_as) is an MMU space plus at most
 * VM_MAX_REGIONS regions, kept sorted by start address and never
 * overlapping. A region says what a range may be used for (code, data,
 * heap, stack, mmap, or a guard gap that nothing may touch), with which
 * permissions and which backing; the page tables say what is there now.
 * Nothing is mapped when a region is made: pages come from faults
 * (vm_fault.c) or from the loader (vm_write_page).
 *
 * Dropping pages (shrinking, munmap, destroy) goes page by page through
 * arch_mmu_query/unmap and the reference counts (vm_frames.c), so a frame
 * shared after fork is freed by whichever space drops it last.
 *
 * Cost: lookups are O(regions) (16 at most); dropping or counting a region
 * costs one MMU query per page of its range, mapped or not, which is fine
 * for the small programs here and slow for a huge sparse mapping.
 *
 * Locking: the public functions take as->lock (the internal ones run
 * with it held); see vm_fault.c for why it is held across allocation.
 *
 * Weaknesses: the fixed region table; the per-page walk instead of a walk
 * of the tables that are really present.
 */
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/string.h>
#include <pagoda/vm.h>

#include "vm_internal.h"

int vm_as_init(struct vm_as *as, uint64_t frame_limit)
{
    memset(as, 0, sizeof(*as));
    spin_init(&as->lock, "vm_as", LOCK_LEVEL_VMM_SPACE);
    as->mmu = arch_mmu_create();
    if (!as->mmu)
        return -E_NOMEM;
    as->frame_limit = frame_limit;
    return 0;
}

static void drop_range(struct vm_as *as, vaddr_t start, vaddr_t end)
{
    for (vaddr_t va = start; va < end; va += PAGE_SIZE)
        vm_page_drop(as, va);
}

void vm_as_destroy(struct vm_as *as)
{
    spin_lock(&as->lock);
    if (!as->mmu) {
        spin_unlock(&as->lock);
        return;
    }
    for (unsigned i = 0; i < as->nregions; i++)
        drop_range(as, as->r[i].start, as->r[i].end);
    arch_mmu_destroy(as->mmu);
    as->mmu = NULL;
    as->nregions = 0;
    spin_unlock(&as->lock);
}

static bool range_ok(vaddr_t start, vaddr_t end)
{
    return start < end && IS_ALIGNED(start, PAGE_SIZE) && IS_ALIGNED(end, PAGE_SIZE) &&
           start >= PAGE_SIZE && end <= USER_LIMIT;
}

/* Does [start, end) overlap a region other than `skip`? */
static bool overlaps(struct vm_as *as, vaddr_t start, vaddr_t end, const struct vm_region *skip)
{
    for (unsigned i = 0; i < as->nregions; i++)
        if (&as->r[i] != skip && start < as->r[i].end && as->r[i].start < end)
            return true;
    return false;
}

static int insert(struct vm_as *as, const struct vm_region *nr)
{
    if (as->nregions == VM_MAX_REGIONS)
        return -E_OVERFLOW;
    unsigned i = as->nregions;
    while (i > 0 && as->r[i - 1].start > nr->start) {
        as->r[i] = as->r[i - 1];
        i--;
    }
    as->r[i] = *nr;
    as->nregions++;
    return 0;
}

int vm_region_add(struct vm_as *as, vaddr_t start, vaddr_t end, unsigned prot, enum vm_backing b,
                  enum vm_kind k)
{
    if (!range_ok(start, end) || (prot & ~(VM_R | VM_W | VM_X)))
        return -E_INVAL;
    struct vm_region nr = {start, end, prot, (uint8_t)b, (uint8_t)k};
    spin_lock(&as->lock);
    int rc = overlaps(as, start, end, NULL) ? -E_EXIST : insert(as, &nr);
    spin_unlock(&as->lock);
    return rc;
}

struct vm_region *vm_region_find(struct vm_as *as, vaddr_t va)
{
    for (unsigned i = 0; i < as->nregions; i++)
        if (va >= as->r[i].start && va < as->r[i].end)
            return &as->r[i];
    return NULL;
}

struct vm_region *vm_region_of_kind(struct vm_as *as, enum vm_kind k)
{
    for (unsigned i = 0; i < as->nregions; i++)
        if (as->r[i].kind == k)
            return &as->r[i];
    return NULL;
}

int vm_region_resize(struct vm_as *as, struct vm_region *r, vaddr_t new_end)
{
    spin_lock(&as->lock);
    int rc = 0;
    if (!range_ok(r->start, new_end)) {
        rc = -E_INVAL;
    } else if (new_end > r->end && overlaps(as, r->end, new_end, r)) {
        rc = -E_EXIST;
    } else {
        if (new_end < r->end)
            drop_range(as, new_end, r->end);
        r->end = new_end;
    }
    spin_unlock(&as->lock);
    return rc;
}

static void remove_at(struct vm_as *as, unsigned i)
{
    for (; i + 1 < as->nregions; i++)
        as->r[i] = as->r[i + 1];
    as->nregions--;
}

static int unmap_locked(struct vm_as *as, vaddr_t start, vaddr_t end)
{
    /* A cut in the middle needs a free slot: check before changing anything. */
    for (unsigned i = 0; i < as->nregions; i++)
        if (as->r[i].start < start && as->r[i].end > end && as->nregions == VM_MAX_REGIONS)
            return -E_OVERFLOW;
    for (unsigned i = 0; i < as->nregions;) {
        struct vm_region *r = &as->r[i];
        if (end <= r->start || start >= r->end) {
            i++;
            continue;
        }
        vaddr_t lo = MAX(start, r->start), hi = MIN(end, r->end);
        drop_range(as, lo, hi);
        if (lo == r->start && hi == r->end) {
            remove_at(as, i);
            continue;
        }
        if (lo == r->start) {
            r->start = hi;
        } else if (hi == r->end) {
            r->end = lo;
        } else {
            struct vm_region tail = *r;
            tail.start = hi;
            r->end = lo;
            insert(as, &tail); /* room checked above */
        }
        i++;
    }
    return 0;
}

int vm_unmap_range(struct vm_as *as, vaddr_t start, vaddr_t end)
{
    if (!range_ok(start, end))
        return -E_INVAL;
    spin_lock(&as->lock);
    int rc = unmap_locked(as, start, end);
    spin_unlock(&as->lock);
    return rc;
}

vaddr_t vm_find_gap(struct vm_as *as, vaddr_t lo, vaddr_t hi, uint64_t len)
{
    if (len == 0 || !IS_ALIGNED(len, PAGE_SIZE))
        return 0;
    spin_lock(&as->lock);
    vaddr_t at = lo;
    for (unsigned i = 0; i < as->nregions; i++) {
        const struct vm_region *r = &as->r[i];
        if (r->end <= at)
            continue;
        if (r->start >= at && r->start - at >= len)
            break;
        if (r->end > at)
            at = r->end;
    }
    spin_unlock(&as->lock);
    return at <= hi && hi - at >= len ? at : 0;
}

static void count(struct vm_as *as, const struct vm_region *r, struct vm_usage *u)
{
    for (vaddr_t va = r->start; va < r->end; va += PAGE_SIZE) {
        paddr_t pa;
        unsigned fl;
        if (arch_mmu_query(as->mmu, va, &pa, &fl) != 0)
            continue;
        if (pa == vm_zero_frame())
            u->zero++;
        else if (vm_frame_refs(pa) > 1)
            u->shared++;
        else
            u->resident++;
    }
}

void vm_usage(struct vm_as *as, const struct vm_region *r, struct vm_usage *u)
{
    memset(u, 0, sizeof(*u));
    spin_lock(&as->lock);
    if (r) {
        count(as, r, u);
    } else {
        for (unsigned i = 0; i < as->nregions; i++)
            count(as, &as->r[i], u);
    }
    spin_unlock(&as->lock);
}

const char *vm_kind_name(enum vm_kind k)
{
    static const char *const names[] = {"code", "data", "heap", "stack", "mmap", "guard"};
    return (unsigned)k < ARRAY_SIZE(names) ? names[k] : "?";
}

const char *vm_backing_name(const struct vm_region *r)
{
    if (r->kind == VM_GUARD)
        return "none";
    return r->backing == VM_BACK_ZERO ? "zero-page" : "demand";
}
