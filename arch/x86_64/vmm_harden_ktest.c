/*
 * In-kernel hardening tests of the VMM (`test=vmm_`): what it must refuse or
 * undo so that no caller can corrupt the page tables. The kernel half's
 * PDPTs are fixed, the table windows are no-execute, the temp-map window and
 * global pages in the user half are refused, and a panic caught by a
 * recovery point leaves no temp slot or foreign attachment behind. Helpers
 * in vmm_ktest.h.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>

#include "vmm_internal.h"
#include "vmm_ktest.h"
#include "x86.h"

/* The kernel half's PDPTs are made once, by vmm_init, and every space shares
 * them through copies of its PML4 entries. A map in a kernel-half slot that
 * has none must fail: a PDPT made then would reach only the live space (not
 * the spaces made before it) and, kernel-half PDPTs never being freed, would
 * leak on unmap. */
KTEST(vmm_kernel_half_slots_are_fixed)
{
    uint64_t before = vmm_kt_free_frames();
    paddr_t pa = vmm_kt_frame_with(0xD4);
    KT_ASSERT(pa != 0);
    vaddr_t va = pg_make(300, 1, 2, 3, 0); /* no PML4 entry: nothing there */
    KT_ASSERT(!(*(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, va) & PTE_PRESENT));
    int rc = vmm_map(va, pa, VMM_WRITE | VMM_NX);
    if (rc == 0)
        vmm_unmap(va, NULL);
    bool pml4e = *(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, va) & PTE_PRESENT;
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(rc, -E_RANGE);
    KT_ASSERT(!pml4e);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
    /* The slots vmm_init made still take new tables below their PDPT. */
    vaddr_t kva_end = KVA_LIMIT - PAGE_SIZE;
    KT_ASSERT_EQ(vmm_map(kva_end, vmm_kt_frame_with(0xD5), VMM_NX), 0);
    paddr_t got = 0;
    KT_ASSERT_EQ(vmm_unmap(kva_end, &got), 0);
    pmm_free((void *)got, 1);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

/* The page-table windows (PML4[510], the live space's recursive entry, and
 * PML4[509], the foreign one) hold nothing but tables: with NX they must be
 * no-execute, or every page table is RWX at a fixed address. Code written
 * into a page-table entry must not run. */
KTEST(vmm_table_windows_are_nx)
{
    if (!vmm_nx)
        return; /* without NX every page is executable: nothing to check */
    uint64_t before = vmm_kt_free_frames();
    vaddr_t win = pg_make(RECURSIVE_SLOT, 0, 0, 0, 0);
    KT_ASSERT(*(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, win) & PTE_NX);

    struct vmm_space *s = vmm_space_create();
    KT_ASSERT(s != NULL);
    bool irq = arch_irq_save();
    unsigned slot = vmm_attach(s);
    uint64_t foreign =
        *(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, pg_make(FOREIGN_SLOT, 0, 0, 0, 0));
    uint64_t own = *(volatile uint64_t *)pg_pml4e_addr(slot, win); /* s's PML4[510] */
    vmm_detach(slot);
    arch_irq_restore(irq);
    vmm_space_destroy(s);
    KT_ASSERT(foreign & PTE_NX);
    KT_ASSERT(own & PTE_NX);

    /* nop; ret in a PTE that stays not present (0x90 has bit 0 clear). */
    paddr_t pa = vmm_kt_frame_with(0);
    KT_ASSERT(pa != 0);
    vaddr_t va = VMM_KT_SCRATCH(6);
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_WRITE | VMM_NX), 0);
    volatile uint64_t *pte = (volatile uint64_t *)pg_pte_addr(RECURSIVE_SLOT, va + PAGE_SIZE);
    *pte = 0xC390;
    struct arch_recover r;
    volatile int how = arch_recover_arm(&r);
    if (how == 0)
        ((void (*)(void))(uintptr_t)pte)();
    arch_recover_disarm(&r);
    *pte = 0;
    KT_ASSERT_EQ(vmm_unmap(va, NULL), 0);
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
    KT_ASSERT_EQ(how, 1);
    KT_ASSERT_EQ(arch_last_fault()->vector, 14);
    KT_ASSERT(arch_last_fault()->error & 16); /* an instruction fetch */
}

/* The temp-map window belongs to vmm_map_temp alone: its PT is in .bss, so a
 * vmm_map there would be taken over by the next temp mapping, and an unmap
 * would hand the .bss table to the PMM. */
KTEST(vmm_temp_window_is_not_mappable)
{
    uint64_t before = vmm_kt_free_frames();
    paddr_t pa = vmm_kt_frame_with(0);
    KT_ASSERT(pa != 0);
    vaddr_t va = TEMP_MAP_BASE + (TEMP_MAP_SLOTS - 1) * PAGE_SIZE;
    int rc = vmm_map(va, pa, VMM_WRITE | VMM_NX);
    if (rc == 0) { /* undo by hand: vmm_unmap could free the .bss PT */
        *(volatile uint64_t *)pg_pte_addr(RECURSIVE_SLOT, va) = 0;
        invlpg(va);
    }
    int rc_unmap = vmm_unmap(TEMP_MAP_BASE + PAGE_SIZE * 8, NULL);
    int rc_prot = vmm_protect(TEMP_MAP_BASE, VMM_NX);
    int rc_end = vmm_map(0xfffffffffffff000ULL, pa, VMM_NX);
    if (rc_end == 0) {
        *(volatile uint64_t *)pg_pte_addr(RECURSIVE_SLOT, 0xfffffffffffff000ULL) = 0;
        invlpg(0xfffffffffffff000ULL);
    }
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(rc, -E_INVAL);
    KT_ASSERT_EQ(rc_unmap, -E_INVAL);
    KT_ASSERT_EQ(rc_prot, -E_INVAL);
    KT_ASSERT_EQ(rc_end, -E_INVAL);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

/* A global entry survives a CR3 switch: in the user half, one space's page
 * would show through in the next. VMM_GLOBAL is refused below USER_LIMIT,
 * in the live space and through the foreign slot alike. */
KTEST(vmm_global_refused_in_user_half)
{
    uint64_t before = vmm_kt_free_frames();
    paddr_t pa = vmm_kt_frame_with(0x6262);
    KT_ASSERT(pa != 0);
    vaddr_t va = VMM_KT_SCRATCH(7);
    int rc = vmm_map(va, pa, VMM_GLOBAL | VMM_NX);
    if (rc == 0)
        vmm_unmap(va, NULL);
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_NX), 0);
    int rc_prot = vmm_protect(va, VMM_GLOBAL | VMM_NX);
    unsigned flags = 0;
    vmm_translate(va, NULL, &flags);
    KT_ASSERT_EQ(vmm_unmap(va, NULL), 0);
    struct vmm_space *s = vmm_space_create();
    KT_ASSERT(s != NULL);
    int rc_space = vmm_space_map(s, 0x400000, pa, VMM_GLOBAL | VMM_USER | VMM_NX);
    if (rc_space == 0)
        vmm_space_unmap(s, 0x400000, NULL);
    vmm_space_destroy(s);
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(rc, -E_INVAL);
    KT_ASSERT_EQ(rc_prot, -E_INVAL);
    KT_ASSERT(!(flags & VMM_GLOBAL));
    KT_ASSERT_EQ(rc_space, -E_INVAL);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

/* A panic that a recovery point catches (the monitor's) abandons the
 * operation it hit: the VMM must not keep what that operation held. Here
 * all temp slots are taken until vmm_map_temp panics, then a destroy panics
 * while the space is attached through the foreign slot (a frame mapped
 * twice); after each, the slots and the foreign window are free again, so
 * the VMM goes on working. */
KTEST(vmm_recovered_panic_undoes_vmm_state)
{
    uint64_t before = vmm_kt_free_frames();
    uint32_t slots = vmm_temp_slots_used();
    paddr_t pa = vmm_kt_frame_with(0x5a5a);
    KT_ASSERT(pa != 0);
    struct arch_recover r;
    volatile unsigned taken = 0;
    int how = arch_recover_arm(&r);
    if (how == 0)
        for (;;) { /* the slot after the last panics */
            vmm_map_temp(pa);
            taken++;
        }
    arch_recover_disarm(&r);
    uint32_t slots_after = vmm_temp_slots_used();
    KT_ASSERT_EQ(how, 2);
    KT_ASSERT(taken > 0);
    KT_ASSERT_EQ(slots_after, slots);

    /* The frame mapped twice: the destroy frees it once, then panics with
     * the space attached, its tables and descriptor still held. */
    struct vmm_space *s = vmm_space_create();
    KT_ASSERT(s != NULL);
    vaddr_t va = 0x400000;
    KT_ASSERT_EQ(vmm_space_map(s, va, pa, VMM_USER | VMM_NX), 0);
    KT_ASSERT_EQ(vmm_space_map(s, va + PAGE_SIZE, pa, VMM_USER | VMM_NX), 0);
    how = arch_recover_arm(&r);
    if (how == 0)
        vmm_space_destroy(s);
    arch_recover_disarm(&r);
    bool attached =
        *(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, pg_make(FOREIGN_SLOT, 0, 0, 0, 0)) &
        PTE_PRESENT;
    KT_ASSERT_EQ(how, 2);
    KT_ASSERT(!attached);
    /* The space is still usable: take its entries back (the frame is
     * already free), and the tables go with them. */
    KT_ASSERT_EQ(vmm_space_unmap(s, va, NULL), 0);
    KT_ASSERT_EQ(vmm_space_unmap(s, va + PAGE_SIZE, NULL), 0);
    vmm_space_destroy(s);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}
