/*
 * In-kernel tests of the VMM above the page tables (`test=vmm_`): kernel
 * allocations with vmm_alloc (immediate and on demand), separate address
 * spaces edited through the foreign slot, and that slot's window closing
 * after each edit. Helpers in vmm_ktest.h.
 */
#include <arch/monitor.h>
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>

#include "vmm_internal.h"
#include "vmm_ktest.h"

extern const uint8_t __text_start[];

KTEST(vmm_alloc_immediate)
{
    uint64_t before = vmm_kt_free_frames();
    uint8_t *a = vmm_alloc(2 * PAGE_SIZE, VMM_WRITE | VMM_NX);
    uint8_t *b = vmm_alloc(1, VMM_WRITE | VMM_NX);
    KT_ASSERT(a && b);
    KT_ASSERT((vaddr_t)a >= KVA_BASE && (vaddr_t)b < KVA_LIMIT);
    /* Disjoint, with an unmapped guard page between them. */
    KT_ASSERT((vaddr_t)b >= (vaddr_t)a + 3 * PAGE_SIZE || (vaddr_t)a >= (vaddr_t)b + 2 * PAGE_SIZE);
    KT_ASSERT_EQ(vmm_translate((vaddr_t)a + 2 * PAGE_SIZE, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_translate((vaddr_t)a - PAGE_SIZE, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_translate((vaddr_t)a + PAGE_SIZE, NULL, NULL), 0);
    KT_ASSERT_EQ(a[0] | a[2 * PAGE_SIZE - 1] | b[0], 0); /* zeroed */
    a[2 * PAGE_SIZE - 1] = 0x42;
    KT_ASSERT(vmm_alloc(0, VMM_WRITE) == NULL);
    vmm_free(a);
    vmm_free(b);
    KT_ASSERT_EQ(vmm_translate((vaddr_t)a, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

KTEST(vmm_demand_paging)
{
    uint64_t before = vmm_kt_free_frames();
    volatile uint64_t *p = vmm_alloc(3 * PAGE_SIZE, VMM_DEMAND | VMM_WRITE | VMM_NX);
    KT_ASSERT(p != NULL);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before); /* reserved, not backed */
    KT_ASSERT_EQ(vmm_translate((vaddr_t)p, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(p[0], 0); /* first touch: a zeroed frame appears */
    KT_ASSERT_EQ(vmm_translate((vaddr_t)p, NULL, NULL), 0);
    KT_ASSERT_EQ(vmm_translate((vaddr_t)p + PAGE_SIZE, NULL, NULL), -E_NOENT);
    p[2 * PAGE_SIZE / 8 + 5] = 0xd00d; /* a write fault backs the third page */
    KT_ASSERT_EQ(p[2 * PAGE_SIZE / 8 + 5], 0xd00d);
    unsigned f;
    KT_ASSERT_EQ(vmm_translate((vaddr_t)p + 2 * PAGE_SIZE, NULL, &f), 0);
    KT_ASSERT(f & VMM_WRITE);
    vmm_free((void *)p);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

KTEST(vmm_space_isolation)
{
    uint64_t before = vmm_kt_free_frames();
    struct vmm_space *k = vmm_space_kernel(), *s1 = vmm_space_create(), *s2 = vmm_space_create();
    KT_ASSERT(s1 && s2 && s1 != s2);
    paddr_t a = vmm_kt_frame_with(0xA1), b = vmm_kt_frame_with(0xB2);
    KT_ASSERT(a && b);
    vaddr_t va = 0x400000;
    /* Both edited while inactive, through the foreign slot. */
    KT_ASSERT_EQ(vmm_space_map(s1, va, a, VMM_WRITE | VMM_USER | VMM_NX), 0);
    KT_ASSERT_EQ(vmm_space_map(s2, va, b, VMM_WRITE | VMM_USER | VMM_NX), 0);
    KT_ASSERT_EQ(vmm_space_map(s2, va, b, VMM_NX), -E_EXIST);
    paddr_t got;
    KT_ASSERT_EQ(vmm_space_translate(s1, va, &got, NULL), 0);
    KT_ASSERT_EQ(got, a);
    KT_ASSERT_EQ(vmm_space_translate(s2, va, &got, NULL), 0);
    KT_ASSERT_EQ(got, b);
    KT_ASSERT_EQ(vmm_translate(va, NULL, NULL), -E_NOENT); /* not in the kernel space */

    vmm_space_switch(s1);
    uint64_t in1 = *(volatile uint64_t *)va;
    bool kernel_seen = vmm_translate((vaddr_t)__text_start, NULL, NULL) == 0;
    vmm_space_switch(s2);
    uint64_t in2 = *(volatile uint64_t *)va;
    /* A live space can edit the kernel space through the foreign slot. */
    int rc_k = vmm_space_translate(k, va, NULL, NULL);
    vmm_space_switch(k);
    KT_ASSERT_EQ(in1, 0xA1);
    KT_ASSERT_EQ(in2, 0xB2);
    KT_ASSERT(kernel_seen);
    KT_ASSERT_EQ(rc_k, -E_NOENT);

    /* Destroy frees the user frames and every table: count back exactly. */
    vmm_space_destroy(s1);
    vmm_space_destroy(s2);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

/* Once an edit through the foreign slot is over, nothing may still reach the
 * space's tables through PML4[509]: a stale TLB entry there would let a read
 * or a write (the monitor's peek and poke) land in a table after the space
 * is destroyed and its frames reused. */
KTEST(vmm_foreign_window_closed_after_detach)
{
    uint64_t before = vmm_kt_free_frames();
    struct vmm_space *s = vmm_space_create();
    KT_ASSERT(s != NULL);
    paddr_t a = vmm_kt_frame_with(0xC3);
    KT_ASSERT(a != 0);
    vaddr_t va = 0x400000;
    /* The map reads the PML4, PDPT, PD and PT through the foreign window. */
    KT_ASSERT_EQ(vmm_space_map(s, va, a, VMM_WRITE | VMM_USER | VMM_NX), 0);
    uint64_t e = 0;
    int rc4 = arch_safe_copy(&e, (const void *)pg_pml4e_addr(FOREIGN_SLOT, va), 8);
    int rc1 = arch_safe_copy(&e, (const void *)pg_pte_addr(FOREIGN_SLOT, va), 8);
    vmm_space_destroy(s);
    int rc_dead = arch_safe_copy(&e, (const void *)pg_pml4e_addr(FOREIGN_SLOT, va), 8);
    KT_ASSERT_EQ(rc4, -E_RANGE);
    KT_ASSERT_EQ(rc1, -E_RANGE);
    KT_ASSERT_EQ(rc_dead, -E_RANGE);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}
