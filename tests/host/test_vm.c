/* Host tests of the user VM's regions and fault decision (src/mm/vm_*.c)
 * over the fake MMU. */
#include <pagoda/errno.h>
#include <pagoda/vm.h>

#include "fake_mmu.h"
#include "harness.h"

#define H 0x10000000ull
#define PG 4096ull

HTEST(vm_zero_page_read_then_write)
{
    fake_vm_reset();
    struct vm_as as;
    CHECK_EQ(vm_as_init(&as, 100), 0);
    CHECK_EQ(vm_region_add(&as, H, H + 8 * PG, VM_R | VM_W, VM_BACK_ZERO, VM_HEAP), 0);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(vm_fault(&as, H + i * PG + 5, VM_ACC_READ), 0);
    struct vm_usage u;
    vm_usage(&as, NULL, &u);
    CHECK_EQ(u.zero, 8);
    CHECK_EQ(u.resident, 0);
    CHECK_EQ(as.frames, 0);
    CHECK_EQ(fake_frames_used(), 1); /* the zero frame alone */
    unsigned fl;
    paddr_t pa;
    CHECK_EQ(arch_mmu_query(as.mmu, H, &pa, &fl), 0);
    CHECK_EQ(pa, vm_zero_frame());
    CHECK(!(fl & MMU_WRITE));
    CHECK(fl & MMU_NX);
    CHECK_EQ(vm_fault(&as, H + 3 * PG, VM_ACC_WRITE), 0);
    CHECK_EQ(fake_peek(&as, H + 3 * PG + 100), 0); /* a zeroed frame, not 0xA5 */
    vm_usage(&as, NULL, &u);
    CHECK_EQ(u.zero, 7);
    CHECK_EQ(u.resident, 1);
    CHECK_EQ(as.c.zero_maps, 8);
    CHECK_EQ(as.c.zero_breaks, 1);
    CHECK_EQ(fake_frames_used(), 2);
    vm_as_destroy(&as);
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(vm_demand_backing_maps_fresh_frames)
{
    fake_vm_reset();
    struct vm_as as;
    CHECK_EQ(vm_as_init(&as, 100), 0);
    CHECK_EQ(vm_region_add(&as, H, H + 4 * PG, VM_R | VM_W, VM_BACK_DEMAND, VM_STACK), 0);
    CHECK_EQ(vm_fault(&as, H, VM_ACC_READ), 0);
    CHECK_EQ(as.c.demand_faults, 1);
    CHECK_EQ(as.c.zero_maps, 0);
    CHECK_EQ(fake_peek(&as, H + 17), 0);
    CHECK_EQ(vm_fault(&as, H, VM_ACC_WRITE), 0); /* already writable: nothing to do */
    CHECK_EQ(as.frames, 1);
    vm_as_destroy(&as);
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(vm_refusals)
{
    fake_vm_reset();
    struct vm_as as;
    CHECK_EQ(vm_as_init(&as, 100), 0);
    CHECK_EQ(vm_region_add(&as, 0x400000, 0x401000, VM_R | VM_X, VM_BACK_DEMAND, VM_CODE), 0);
    CHECK_EQ(vm_region_add(&as, H, H + PG, VM_R | VM_W, VM_BACK_ZERO, VM_HEAP), 0);
    CHECK_EQ(vm_region_add(&as, H + 2 * PG, H + 3 * PG, 0, VM_BACK_DEMAND, VM_GUARD), 0);
    CHECK_EQ(vm_fault(&as, 0, VM_ACC_READ), -VMF_NOREGION);
    CHECK_EQ(vm_fault(&as, 0x400010, VM_ACC_WRITE), -VMF_PROT);
    CHECK_EQ(vm_fault(&as, H, VM_ACC_EXEC), -VMF_PROT);
    CHECK_EQ(vm_fault(&as, H + 2 * PG + 8, VM_ACC_READ), -VMF_GUARD);
    CHECK_EQ(vm_fault(&as, H + PG, VM_ACC_READ), -VMF_NOREGION);
    CHECK_EQ(vm_fault(&as, 0xffffffff80100000ull, VM_ACC_READ), -VMF_KERNEL);
    CHECK_EQ(vm_fault(&as, 0x400010, VM_ACC_EXEC), 0);
    CHECK_EQ(fake_frames_used(), 2);
    vm_as_destroy(&as);
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(vm_out_of_memory_leaves_the_page_alone)
{
    fake_vm_reset();
    struct vm_as as;
    CHECK_EQ(vm_as_init(&as, 2), 0);
    CHECK_EQ(vm_region_add(&as, H, H + 8 * PG, VM_R | VM_W, VM_BACK_ZERO, VM_HEAP), 0);
    CHECK_EQ(vm_fault(&as, H, VM_ACC_WRITE), 0);
    CHECK_EQ(vm_fault(&as, H + PG, VM_ACC_WRITE), 0);
    CHECK_EQ(vm_fault(&as, H + 2 * PG, VM_ACC_WRITE), -VMF_NOMEM); /* frame_limit */
    CHECK_EQ(vm_fault(&as, H + 2 * PG, VM_ACC_READ), 0);           /* the zero page still works */
    as.frame_limit = 100;
    fake_frame_budget = 0; /* an empty PMM */
    CHECK_EQ(vm_fault(&as, H + 2 * PG, VM_ACC_WRITE), -VMF_NOMEM);
    paddr_t pa;
    unsigned fl;
    CHECK_EQ(arch_mmu_query(as.mmu, H + 2 * PG, &pa, &fl), 0);
    CHECK_EQ(pa, vm_zero_frame());
    fake_frame_budget = -1;
    vm_as_destroy(&as);
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(vm_regions_overlap_split_gap)
{
    fake_vm_reset();
    struct vm_as as;
    CHECK_EQ(vm_as_init(&as, 100), 0);
    CHECK_EQ(vm_region_add(&as, H, H + 8 * PG, VM_R | VM_W, VM_BACK_DEMAND, VM_MMAP), 0);
    CHECK_EQ(vm_region_add(&as, H + 4 * PG, H + 9 * PG, VM_R, VM_BACK_DEMAND, VM_MMAP), -E_EXIST);
    CHECK_EQ(vm_region_add(&as, H + 1, H + PG, VM_R, VM_BACK_DEMAND, VM_MMAP), -E_INVAL);
    CHECK_EQ(
        vm_region_add(&as, 0x800000000000ull, 0x800000001000ull, VM_R, VM_BACK_DEMAND, VM_MMAP),
        -E_INVAL);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(vm_fault(&as, H + i * PG, VM_ACC_WRITE), 0);
    CHECK_EQ(vm_unmap_range(&as, H + 2 * PG, H + 4 * PG), 0); /* a hole in the middle */
    CHECK_EQ(as.nregions, 2);
    CHECK_EQ(as.r[0].end, H + 2 * PG);
    CHECK_EQ(as.r[1].start, H + 4 * PG);
    CHECK_EQ(as.frames, 6);
    CHECK_EQ(fake_frames_used(), 7);
    CHECK_EQ(vm_find_gap(&as, H, H + 100 * PG, 2 * PG), H + 2 * PG);
    CHECK_EQ(vm_find_gap(&as, H, H + 100 * PG, 3 * PG), H + 8 * PG);
    CHECK_EQ(vm_find_gap(&as, H, H + 9 * PG, 3 * PG), 0);
    CHECK_EQ(vm_region_resize(&as, &as.r[1], H + 5 * PG), 0); /* shrink drops pages */
    CHECK_EQ(as.frames, 3);
    CHECK_EQ(vm_region_resize(&as, &as.r[0], H + 5 * PG), -E_EXIST);
    for (int i = 0; as.nregions < VM_MAX_REGIONS; i++)
        CHECK_EQ(vm_region_add(&as, H + (100 + 2 * i) * PG, H + (101 + 2 * i) * PG, VM_R,
                               VM_BACK_ZERO, VM_MMAP),
                 0);
    CHECK_EQ(vm_region_add(&as, H + 500 * PG, H + 501 * PG, VM_R, VM_BACK_ZERO, VM_MMAP),
             -E_OVERFLOW);
    CHECK_EQ(vm_unmap_range(&as, H + 1, H + PG), -E_INVAL); /* not page-aligned */
    vm_as_destroy(&as);
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(vm_write_page_keeps_code_read_only)
{
    fake_vm_reset();
    struct vm_as as;
    CHECK_EQ(vm_as_init(&as, 100), 0);
    CHECK_EQ(vm_region_add(&as, 0x400000, 0x402000, VM_R | VM_X, VM_BACK_DEMAND, VM_CODE), 0);
    CHECK_EQ(vm_write_page(&as, 0x400ffe, "\xeb\xfe", 2), 0);
    CHECK_EQ(vm_write_page(&as, 0x400ffe, "abc", 3), -VMF_PROT); /* crosses a page */
    paddr_t pa;
    unsigned fl;
    CHECK_EQ(arch_mmu_query(as.mmu, 0x400000, &pa, &fl), 0);
    CHECK(!(fl & MMU_WRITE));
    CHECK(!(fl & MMU_NX));
    CHECK_EQ(fake_peek(&as, 0x400ffe), 0xeb);
    CHECK_EQ(fake_peek(&as, 0x400000), 0);
    CHECK_EQ(vm_write_page(&as, 0x500000, "x", 1), -VMF_NOREGION);
    vm_as_destroy(&as);
    CHECK_EQ(fake_frames_used(), 1);
}

/* Every operation takes the space's lock and gives it back, on success and
 * on failure (a lock left held would hang the next fault of that space). */
HTEST(vm_space_lock_free_after_every_operation)
{
    fake_vm_reset();
    struct vm_as as;
    CHECK_EQ(vm_as_init(&as, 4), 0);
    CHECK_EQ(as.lock.level, LOCK_LEVEL_VMM_SPACE);
    CHECK_EQ(vm_region_add(&as, H, H + 8 * PG, VM_R | VM_W, VM_BACK_DEMAND, VM_MMAP), 0);
    CHECK_EQ(vm_region_add(&as, H, H + PG, VM_R, VM_BACK_DEMAND, VM_MMAP), -E_EXIST);
    CHECK(!spin_held(&as.lock));
    for (int i = 0; i < 4; i++)
        CHECK_EQ(vm_fault(&as, H + i * PG, VM_ACC_WRITE), 0);
    CHECK_EQ(vm_fault(&as, H + 5 * PG, VM_ACC_WRITE), -VMF_NOMEM); /* the frame limit */
    CHECK_EQ(vm_fault(&as, H + 9 * PG, VM_ACC_READ), -VMF_NOREGION);
    CHECK_EQ(vm_fault(&as, 0xffff800000000000ull, VM_ACC_READ), -VMF_KERNEL);
    CHECK(!spin_held(&as.lock));
    struct vm_usage u;
    vm_usage(&as, NULL, &u);
    CHECK_EQ(u.resident, 4);
    CHECK(vm_find_gap(&as, H, H + 64 * PG, 8 * PG) == H + 8 * PG);
    CHECK_EQ(vm_unmap_range(&as, H + PG, H + 2 * PG), 0);
    CHECK_EQ(vm_region_resize(&as, vm_region_find(&as, H + 4 * PG), H + 6 * PG), 0);
    CHECK(!spin_held(&as.lock));
    vm_as_destroy(&as);
    CHECK(!spin_held(&as.lock));
    CHECK_EQ(fake_frames_used(), 1);
}
