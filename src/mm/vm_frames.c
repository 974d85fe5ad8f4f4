/*
 * Frame references of the user VM, kept beside the PMM.
 *
 * Theory of operation. One 16-bit count per physical frame, in a table the
 * kernel hands over at boot (vm_init). A frame the VM allocates for a user
 * page starts at 1; fork adds one per space that maps it; dropping a page
 * subtracts one, and the frame goes back to the PMM when the count reaches
 * 0. The shared zero frame is not counted: it is never freed, and a page on
 * it is recognised by its address.
 *
 * Invariant: refs[pfn] is the number of user leaf entries, over all spaces,
 * that map frame pfn (the zero frame excepted).
 *
 * SMP: the counts are changed with atomic read-modify-writes, because two
 * spaces sharing a frame are faulted under two different locks. Everything
 * else here (as->frames) is under the space's own lock.
 *
 * Cost: O(1) per operation; the table is 2 bytes per frame of RAM
 * (128 KiB for 256 MiB). Weaknesses: a count that would pass 65535 panics
 * instead of saturating.
 */
#include <pagoda/printk.h>
#include <pagoda/vm.h>

#include "vm_internal.h"

static uint16_t *refs;
static size_t nrefs;
static paddr_t zero_frame;

void vm_init(uint16_t *table, size_t nframes, paddr_t zero)
{
    refs = table;
    nrefs = nframes;
    zero_frame = zero;
}

paddr_t vm_zero_frame(void)
{
    return zero_frame;
}

static uint16_t *slot(paddr_t pa)
{
    size_t pfn = (size_t)(pa >> PAGE_SHIFT);
    if (!refs || pfn >= nrefs)
        panic("vm: frame 0x%llx is outside the reference table (%zu frames)",
              (unsigned long long)pa, nrefs);
    return &refs[pfn];
}

unsigned vm_frame_refs(paddr_t pa)
{
    if (pa == zero_frame || !refs || (pa >> PAGE_SHIFT) >= nrefs)
        return 0;
    return __atomic_load_n(slot(pa), __ATOMIC_ACQUIRE);
}

void vm_ref_new(paddr_t pa)
{
    uint16_t *c = slot(pa), zero = 0;
    if (!__atomic_compare_exchange_n(c, &zero, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        panic("vm: new frame 0x%llx already has %u references", (unsigned long long)pa, zero);
}

void vm_ref_inc(paddr_t pa)
{
    uint16_t *c = slot(pa), old = __atomic_load_n(c, __ATOMIC_RELAXED);
    do {
        if (old == 0 || old == UINT16_MAX)
            panic("vm: frame 0x%llx: reference count %u cannot grow", (unsigned long long)pa,
                  old);
    } while (!__atomic_compare_exchange_n(c, &old, (uint16_t)(old + 1), true, __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));
}

bool vm_ref_dec(paddr_t pa)
{
    uint16_t *c = slot(pa), old = __atomic_load_n(c, __ATOMIC_RELAXED);
    do {
        if (old == 0)
            panic("vm: frame 0x%llx dropped with no reference left", (unsigned long long)pa);
    } while (!__atomic_compare_exchange_n(c, &old, (uint16_t)(old - 1), true, __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));
    return old == 1;
}

paddr_t vm_frame_new(struct vm_as *as, bool zero)
{
    if (as->frames >= as->frame_limit)
        return 0;
    paddr_t pa = arch_frame_alloc();
    if (!pa)
        return 0;
    if (zero)
        arch_frame_zero(pa);
    vm_ref_new(pa);
    as->frames++;
    return pa;
}

void vm_page_drop(struct vm_as *as, vaddr_t va)
{
    paddr_t pa;
    if (arch_mmu_unmap(as->mmu, va, &pa) != 0)
        return;
    if (pa == zero_frame)
        return;
    as->frames--;
    if (vm_ref_dec(pa))
        arch_frame_free(pa);
}

const char *vm_fault_name(int err)
{
    switch (err < 0 ? -err : err) {
    case VMF_OK:
        return "resolved";
    case VMF_NOREGION:
        return "no region";
    case VMF_GUARD:
        return "stack overflow into the guard gap";
    case VMF_PROT:
        return "access the region does not allow";
    case VMF_NOMEM:
        return "out of memory";
    case VMF_KERNEL:
        return "kernel memory";
    default:
        return "unknown";
    }
}
