/* Host tests of copy-on-write fork in the user VM (src/mm/vm_fault.c),
 * over the fake MMU: sharing, copies, takeovers, the zero page across a
 * fork, and that every frame comes back whichever side goes first. */
#include <pagoda/errno.h>
#include <pagoda/vm.h>

#include "fake_mmu.h"
#include "harness.h"

#define D 0x20000000ull
#define PG 4096ull

/* A parent with 4 private pages holding 'A'..'D' and 2 zero-mapped ones. */
static bool parent(struct vm_as *a)
{
    if (vm_as_init(a, 100) || vm_region_add(a, D, D + 6 * PG, VM_R | VM_W, VM_BACK_ZERO, VM_DATA))
        return false;
    for (int i = 0; i < 4; i++) {
        char c = (char)('A' + i);
        if (vm_write_page(a, D + i * PG, &c, 1))
            return false;
    }
    return vm_fault(a, D + 4 * PG, VM_ACC_READ) == 0 && vm_fault(a, D + 5 * PG, VM_ACC_READ) == 0;
}

HTEST(vm_fork_shares_every_page)
{
    fake_vm_reset();
    struct vm_as a, b;
    CHECK(parent(&a));
    CHECK_EQ(vm_as_init(&b, 100), 0);
    int used = fake_frames_used();
    CHECK_EQ(vm_as_fork(&b, &a), 0);
    CHECK_EQ(fake_frames_used(), used); /* no frame copied */
    struct vm_usage ua, ub;
    vm_usage(&a, NULL, &ua);
    vm_usage(&b, NULL, &ub);
    CHECK_EQ(ua.shared, 4);
    CHECK_EQ(ub.shared, 4);
    CHECK_EQ(ua.zero, 2);
    CHECK_EQ(ub.zero, 2);
    for (int i = 0; i < 4; i++) {
        paddr_t pa, pb;
        unsigned fa, fb;
        CHECK_EQ(arch_mmu_query(a.mmu, D + i * PG, &pa, &fa), 0);
        CHECK_EQ(arch_mmu_query(b.mmu, D + i * PG, &pb, &fb), 0);
        CHECK_EQ(pa, pb);
        CHECK(!(fa & MMU_WRITE) && !(fb & MMU_WRITE));
        CHECK_EQ(vm_frame_refs(pa), 2);
        CHECK_EQ(fake_peek(&b, D + i * PG), 'A' + i);
    }
    vm_as_destroy(&b);
    vm_as_destroy(&a);
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(vm_cow_writes_are_private)
{
    fake_vm_reset();
    struct vm_as a, b;
    CHECK(parent(&a));
    CHECK_EQ(vm_as_init(&b, 100), 0);
    CHECK_EQ(vm_as_fork(&b, &a), 0);
    /* b writes page 0: copied, because a still maps it. */
    CHECK_EQ(vm_fault(&b, D, VM_ACC_WRITE), 0);
    CHECK_EQ(b.c.cow_copies, 1);
    CHECK_EQ(fake_peek(&b, D), 'A'); /* the copy has the old contents */
    CHECK_EQ(vm_write_page(&b, D, "b", 1), 0);
    CHECK_EQ(fake_peek(&a, D), 'A');
    CHECK_EQ(fake_peek(&b, D), 'b');
    /* a writes page 0 now: nobody else maps its frame: taken over. */
    CHECK_EQ(vm_fault(&a, D, VM_ACC_WRITE), 0);
    CHECK_EQ(a.c.cow_takeovers, 1);
    CHECK_EQ(a.c.cow_copies, 0);
    /* A write to a zero-mapped page after fork gets a zeroed frame. */
    CHECK_EQ(vm_fault(&b, D + 4 * PG, VM_ACC_WRITE), 0);
    CHECK_EQ(b.c.zero_breaks, 1);
    CHECK_EQ(fake_peek(&b, D + 4 * PG), 0);
    paddr_t pa;
    unsigned fl;
    CHECK_EQ(arch_mmu_query(a.mmu, D + 4 * PG, &pa, &fl), 0);
    CHECK_EQ(pa, vm_zero_frame());
    struct vm_usage ua;
    vm_usage(&a, NULL, &ua);
    CHECK_EQ(ua.shared, 3);
    CHECK_EQ(ua.resident, 1);
    vm_as_destroy(&a); /* the parent goes first this time */
    vm_usage(&b, NULL, &ua);
    CHECK_EQ(ua.shared, 0);
    CHECK_EQ(ua.resident, 5);
    CHECK_EQ(vm_fault(&b, D + PG, VM_ACC_WRITE), 0);
    CHECK_EQ(b.c.cow_takeovers, 1);
    vm_as_destroy(&b);
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(vm_fork_of_a_fork)
{
    fake_vm_reset();
    struct vm_as a, b, c;
    CHECK(parent(&a));
    CHECK_EQ(vm_as_init(&b, 100), 0);
    CHECK_EQ(vm_as_init(&c, 100), 0);
    CHECK_EQ(vm_as_fork(&b, &a), 0);
    CHECK_EQ(vm_as_fork(&c, &b), 0);
    paddr_t pa;
    unsigned fl;
    CHECK_EQ(arch_mmu_query(a.mmu, D + 2 * PG, &pa, &fl), 0);
    CHECK_EQ(vm_frame_refs(pa), 3);
    CHECK_EQ(vm_fault(&c, D + 2 * PG, VM_ACC_WRITE), 0);
    CHECK_EQ(c.c.cow_copies, 1);
    CHECK_EQ(vm_frame_refs(pa), 2);
    vm_as_destroy(&b);
    CHECK_EQ(vm_frame_refs(pa), 1);
    vm_as_destroy(&c);
    vm_as_destroy(&a);
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(vm_cow_copy_out_of_memory)
{
    fake_vm_reset();
    struct vm_as a, b;
    CHECK(parent(&a));
    CHECK_EQ(vm_as_init(&b, 100), 0);
    CHECK_EQ(vm_as_fork(&b, &a), 0);
    fake_frame_budget = 0;
    CHECK_EQ(vm_fault(&b, D, VM_ACC_WRITE), -VMF_NOMEM);
    fake_frame_budget = -1;
    CHECK_EQ(fake_peek(&b, D), 'A'); /* still the shared frame */
    paddr_t pa;
    unsigned fl;
    CHECK_EQ(arch_mmu_query(b.mmu, D, &pa, &fl), 0);
    CHECK_EQ(vm_frame_refs(pa), 2);
    vm_as_destroy(&b);
    vm_as_destroy(&a);
    CHECK_EQ(fake_frames_used(), 1);
}

/* What the loser of a fault race sees (vm_fault.c's step 5): the page was
 * resolved by the winner, so a second write fault spends nothing and
 * counts nothing. And the space lock is free again after every outcome. */
HTEST(vm_cow_fault_already_resolved_spends_nothing)
{
    fake_vm_reset();
    struct vm_as a, b;
    CHECK(parent(&a));
    CHECK_EQ(vm_as_init(&b, 100), 0);
    CHECK_EQ(vm_as_fork(&b, &a), 0);
    CHECK(!spin_held(&a.lock) && !spin_held(&b.lock));
    CHECK_EQ(vm_fault(&b, D, VM_ACC_WRITE), 0);
    int used = fake_frames_used();
    uint64_t frames = b.frames;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(vm_fault(&b, D + 7, VM_ACC_WRITE), 0);
        CHECK_EQ(vm_fault(&b, D + 9, VM_ACC_READ), 0);
    }
    CHECK_EQ(b.c.cow_copies, 1);
    CHECK_EQ(b.c.cow_takeovers, 0);
    CHECK_EQ(fake_frames_used(), used);
    CHECK_EQ(b.frames, frames);
    CHECK(!spin_held(&b.lock));
    fake_frame_budget = 0; /* a failing fault lets go of the lock too */
    CHECK_EQ(vm_fault(&b, D + PG, VM_ACC_WRITE), -VMF_NOMEM);
    fake_frame_budget = -1;
    CHECK_EQ(vm_fault(&b, 0x7000000000ull, VM_ACC_READ), -VMF_NOREGION);
    CHECK(!spin_held(&b.lock));
    vm_as_destroy(&b);
    vm_as_destroy(&a);
    CHECK_EQ(fake_frames_used(), 1);
}
