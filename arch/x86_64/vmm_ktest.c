/*
 * In-kernel tests of the VMM (`test=vmm_`). Each test leaves the PMM free
 * count exactly where it found it, and checks that it did.
 *
 * Scratch addresses are in the kernel space's user half, which nothing else
 * uses, each in its own PML4 slot so that every test starts with no tables.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/string.h>

#include "cpu.h"
#include "vmm_internal.h"
#include "x86.h"

#define SCRATCH(n) pg_make(100 + (n), 0, 0, 0, 0)

extern const uint8_t __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern const uint8_t __data_start[], __data_end[];

static uint64_t free_frames(void)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    return st.free_pages;
}

/* A frame whose first word is `pattern`. */
static paddr_t frame_with(uint64_t pattern)
{
    paddr_t pa = (paddr_t)pmm_alloc(1);
    if (pa) {
        uint64_t *p = vmm_map_temp(pa);
        memset(p, 0, PAGE_SIZE);
        p[0] = pattern;
        vmm_unmap_temp(p);
    }
    return pa;
}

/* VMM_GLOBAL reaches the leaf, and the CPU honours it (CR4.PGE) when it can. */
KTEST(vmm_global_flag_is_live)
{
    uint64_t before = free_frames();
    KT_ASSERT_EQ(!!(read_cr4() & CR4_PGE), cpu_has_pge());
    paddr_t pa = frame_with(0x6161);
    KT_ASSERT(pa != 0);
    /* Global pages are the kernel half's alone (see vmm_global_refused_in_
     * user_half): the last page of the kernel-range region, which first-fit
     * vmm_alloc never reaches in a test. */
    vaddr_t va = KVA_LIMIT - 2 * PAGE_SIZE;
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_WRITE | VMM_NX | VMM_GLOBAL), 0);
    unsigned flags = 0;
    KT_ASSERT_EQ(vmm_translate(va, NULL, &flags), 0);
    KT_ASSERT(flags & VMM_GLOBAL);
    KT_ASSERT_EQ(*(volatile uint64_t *)va, 0x6161);
    /* invlpg drops global entries too: after unmap, the page must fault. */
    paddr_t got = 0;
    KT_ASSERT_EQ(vmm_unmap(va, &got), 0);
    KT_ASSERT_EQ(got, pa);
    uint64_t v;
    KT_ASSERT(arch_safe_copy(&v, (const void *)va, sizeof(v)) != 0);
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(free_frames(), before);
}

KTEST(vmm_map_translate_unmap)
{
    uint64_t before = free_frames();
    paddr_t pa = frame_with(0x1111);
    KT_ASSERT(pa != 0);
    vaddr_t va = SCRATCH(0) + 0x12345000;
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_WRITE | VMM_NX), 0);

    paddr_t got = 0;
    unsigned flags = 0;
    KT_ASSERT_EQ(vmm_translate(va + 0x123, &got, &flags), 0);
    KT_ASSERT_EQ(got, pa + 0x123);
    KT_ASSERT(flags & VMM_WRITE);
    KT_ASSERT(!(flags & VMM_USER));
    KT_ASSERT_EQ(!!(flags & VMM_NX), vmm_nx);
    KT_ASSERT_EQ(*(volatile uint64_t *)va, 0x1111);

    /* A write through va shows through a second mapping of the frame. */
    *(volatile uint64_t *)(va + 8) = 0xfeedface;
    uint64_t *t = vmm_map_temp(pa);
    uint64_t seen = t[1];
    vmm_unmap_temp(t);
    KT_ASSERT_EQ(seen, 0xfeedface);

    KT_ASSERT_EQ(vmm_protect(va, VMM_NX), 0);
    KT_ASSERT_EQ(vmm_translate(va, NULL, &flags), 0);
    KT_ASSERT(!(flags & VMM_WRITE));

    got = 0;
    KT_ASSERT_EQ(vmm_unmap(va, &got), 0);
    KT_ASSERT_EQ(got, pa);
    KT_ASSERT_EQ(vmm_translate(va, NULL, NULL), -E_NOENT);
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(free_frames(), before);
}

KTEST(vmm_tables_freed)
{
    /* A fresh PML4 slot needs a PDPT, a PD and a PT: exactly three frames,
     * all given back by the unmap. */
    uint64_t before = free_frames();
    paddr_t pa = frame_with(0);
    KT_ASSERT(pa != 0);
    vaddr_t va = SCRATCH(1);
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_WRITE | VMM_NX), 0);
    KT_ASSERT_EQ(free_frames(), before - 4);
    /* A neighbour in the same PT costs no table. */
    KT_ASSERT_EQ(vmm_map(va + PAGE_SIZE, pa, VMM_NX), 0);
    KT_ASSERT_EQ(free_frames(), before - 4);
    KT_ASSERT_EQ(vmm_unmap(va, NULL), 0);
    KT_ASSERT_EQ(free_frames(), before - 4); /* the PT is not empty yet */
    KT_ASSERT_EQ(vmm_unmap(va + PAGE_SIZE, NULL), 0);
    KT_ASSERT_EQ(free_frames(), before - 1);
    KT_ASSERT_EQ(*(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, va), 0);
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(free_frames(), before);
}

KTEST(vmm_tlb_invalidation)
{
    uint64_t before = free_frames();
    paddr_t a = frame_with(0xAAAA), b = frame_with(0xBBBB);
    KT_ASSERT(a && b);
    vaddr_t va = SCRATCH(2);
    uint64_t cr3 = read_cr3();
    KT_ASSERT_EQ(vmm_map(va, a, VMM_WRITE | VMM_NX), 0);
    KT_ASSERT_EQ(*(volatile uint64_t *)va, 0xAAAA); /* now in the TLB */
    KT_ASSERT_EQ(vmm_unmap(va, NULL), 0);
    KT_ASSERT_EQ(vmm_map(va, b, VMM_WRITE | VMM_NX), 0);
    KT_ASSERT_EQ(*(volatile uint64_t *)va, 0xBBBB); /* invlpg, not CR3 */
    KT_ASSERT_EQ(read_cr3(), cr3);
    KT_ASSERT_EQ(vmm_unmap(va, NULL), 0);
    pmm_free((void *)a, 1);
    pmm_free((void *)b, 1);
    KT_ASSERT_EQ(free_frames(), before);
}

/* Every page of [s, e) has exactly `want` among write/NX, and the frame the
 * image was loaded at; guard pages are unmapped. */
static bool section_is(const void *s, const void *e, unsigned want, int *bad_page)
{
    unsigned mask = VMM_WRITE | VMM_NX | VMM_USER;
    if (!vmm_nx)
        want &= ~VMM_NX;
    for (vaddr_t va = (vaddr_t)s; va < (vaddr_t)e; va += PAGE_SIZE) {
        paddr_t pa;
        unsigned f;
        int rc = vmm_translate(va, &pa, &f);
        bool ok = kstack_guard_hit(va) ? rc == -E_NOENT
                                       : rc == 0 && pa == va - KERNEL_VMA && (f & mask) == want;
        if (!ok) {
            *bad_page = (int)((va - (vaddr_t)s) / PAGE_SIZE);
            return false;
        }
    }
    return true;
}

KTEST(vmm_kernel_sections)
{
    int bad = -1;
    KT_ASSERT(section_is(__text_start, __text_end, 0, &bad));
    KT_ASSERT(section_is(__rodata_start, __rodata_end, VMM_NX, &bad));
    KT_ASSERT(section_is(__data_start, __data_end, VMM_WRITE | VMM_NX, &bad));
    int guards = 0;
    for (const struct kstack_guard *g = __kstack_guards_start; g < __kstack_guards_end; g++) {
        KT_ASSERT_EQ(vmm_translate(g->guard, NULL, NULL), -E_NOENT);
        guards++;
    }
    KT_ASSERT(guards >= 2); /* the boot stack and the #DF stack at least */
    /* The boot mappings are gone: NULL, the identity map, the 2 MiB window
     * past the image; VGA stays. */
    KT_ASSERT_EQ(vmm_translate(0, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_translate(KERNEL_PHYS, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_translate(0x200000 * 8, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_translate(KERNEL_VMA + 0x200000 * 8, NULL, NULL), -E_NOENT);
    paddr_t vga;
    KT_ASSERT_EQ(vmm_translate(KERNEL_VMA + 0xB8000, &vga, NULL), 0);
    KT_ASSERT_EQ(vga, 0xB8000);
    KT_ASSERT(read_cr0() & CR0_WP);
}

KTEST(vmm_errors)
{
    uint64_t before = free_frames();
    paddr_t pa = frame_with(0);
    KT_ASSERT(pa != 0);
    vaddr_t va = SCRATCH(3);
    KT_ASSERT_EQ(vmm_unmap(va, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_protect(va, 0), -E_NOENT);
    KT_ASSERT_EQ(vmm_translate(va, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_NX), 0);
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_NX), -E_EXIST);
    KT_ASSERT_EQ(vmm_map(va + PAGE_SIZE, pa + 1, VMM_NX), -E_ALIGN);
    KT_ASSERT_EQ(vmm_map(va + 1, pa, VMM_NX), -E_ALIGN);
    KT_ASSERT_EQ(vmm_map(0x0000800000000000ULL, pa, VMM_NX), -E_INVAL);
    KT_ASSERT_EQ(vmm_map(0, pa, VMM_NX), -E_INVAL); /* NULL must always fault */
    KT_ASSERT_EQ(vmm_map(pg_make(RECURSIVE_SLOT, 1, 2, 3, 0), pa, VMM_NX), -E_INVAL);
    KT_ASSERT_EQ(vmm_map(pg_make(FOREIGN_SLOT, 1, 2, 3, 0), pa, VMM_NX), -E_INVAL);
    /* A range call that cannot finish changes nothing. */
    KT_ASSERT_EQ(vmm_unmap_range(va, 2), -E_NOENT);
    KT_ASSERT_EQ(vmm_translate(va, NULL, NULL), 0);
    KT_ASSERT_EQ(vmm_map_range(va - PAGE_SIZE, pa, 3, VMM_NX), -E_EXIST);
    KT_ASSERT_EQ(vmm_translate(va - PAGE_SIZE, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_unmap(va, NULL), 0);
    KT_ASSERT_EQ(vmm_unmap(va, NULL), -E_NOENT);
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(free_frames(), before);
}

KTEST(vmm_ranges)
{
    uint64_t before = free_frames();
    paddr_t pa = (paddr_t)pmm_alloc(4);
    KT_ASSERT(pa != 0);
    vaddr_t va = SCRATCH(4);
    KT_ASSERT_EQ(vmm_map_range(va, pa, 4, VMM_WRITE | VMM_NX), 0);
    KT_ASSERT_EQ(vmm_protect_range(va, 4, VMM_NX), 0);
    for (int i = 0; i < 4; i++) {
        paddr_t got;
        unsigned f;
        KT_ASSERT_EQ(vmm_translate(va + i * PAGE_SIZE, &got, &f), 0);
        KT_ASSERT_EQ(got, pa + i * PAGE_SIZE);
        KT_ASSERT(!(f & VMM_WRITE));
    }
    KT_ASSERT_EQ(vmm_unmap_range(va, 4), 0);
    pmm_free((void *)pa, 4);
    KT_ASSERT_EQ(free_frames(), before);
}

KTEST(vmm_temp_window)
{
    paddr_t pa = frame_with(0x7e3b);
    KT_ASSERT(pa != 0);
    uint64_t *a = vmm_map_temp(pa), *b = vmm_map_temp(pa + 8);
    KT_ASSERT(a != b);
    KT_ASSERT_EQ((vaddr_t)b & PAGE_MASK, 8);
    a[1] = 0x5151;
    KT_ASSERT_EQ(b[0], 0x5151);
    KT_ASSERT_EQ(a[0], 0x7e3b);
    vmm_unmap_temp(b);
    vmm_unmap_temp(a);
    KT_ASSERT_EQ(vmm_translate((vaddr_t)a, NULL, NULL), -E_NOENT);
    pmm_free((void *)pa, 1);
}

KTEST(vmm_split_2m)
{
    /* A 2 MiB page like the trampoline's, then a 4 KiB change inside it:
     * the page is split, its neighbours keep their frames. */
    uint64_t before = free_frames();
    vaddr_t va = SCRATCH(5);
    KT_ASSERT_EQ(vmm_map_2m_in(RECURSIVE_SLOT, va, 0x200000, VMM_NX), 0);
    paddr_t got;
    KT_ASSERT_EQ(vmm_translate(va + 0x5123, &got, NULL), 0);
    KT_ASSERT_EQ(got, 0x205123);
    KT_ASSERT_EQ(vmm_map(va + 0x5000, 0x300000, VMM_NX), -E_EXIST);
    KT_ASSERT_EQ(vmm_unmap(va + 0x5000, &got), 0);
    KT_ASSERT_EQ(got, 0x205000);
    KT_ASSERT_EQ(vmm_translate(va + 0x5000, NULL, NULL), -E_NOENT);
    KT_ASSERT_EQ(vmm_translate(va + 0x6008, &got, NULL), 0);
    KT_ASSERT_EQ(got, 0x206008);
    KT_ASSERT_EQ(vmm_translate(va + 0x1ff000, &got, NULL), 0);
    KT_ASSERT_EQ(got, 0x3ff000);
    KT_ASSERT_EQ(vmm_unmap_range(va, 5), 0);
    KT_ASSERT_EQ(vmm_unmap_range(va + 0x6000, PG_ENTRIES - 6), 0);
    KT_ASSERT_EQ(free_frames(), before);
}

KTEST(vmm_alloc_immediate)
{
    uint64_t before = free_frames();
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
    KT_ASSERT_EQ(free_frames(), before);
}

KTEST(vmm_demand_paging)
{
    uint64_t before = free_frames();
    volatile uint64_t *p = vmm_alloc(3 * PAGE_SIZE, VMM_DEMAND | VMM_WRITE | VMM_NX);
    KT_ASSERT(p != NULL);
    KT_ASSERT_EQ(free_frames(), before); /* reserved, not backed */
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
    KT_ASSERT_EQ(free_frames(), before);
}

KTEST(vmm_space_isolation)
{
    uint64_t before = free_frames();
    struct vmm_space *k = vmm_space_kernel(), *s1 = vmm_space_create(), *s2 = vmm_space_create();
    KT_ASSERT(s1 && s2 && s1 != s2);
    paddr_t a = frame_with(0xA1), b = frame_with(0xB2);
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
    KT_ASSERT_EQ(free_frames(), before);
}

/* Once an edit through the foreign slot is over, nothing may still reach the
 * space's tables through PML4[509]: a stale TLB entry there would let a read
 * or a write (the monitor's peek and poke) land in a table after the space
 * is destroyed and its frames reused. */
KTEST(vmm_foreign_window_closed_after_detach)
{
    uint64_t before = free_frames();
    struct vmm_space *s = vmm_space_create();
    KT_ASSERT(s != NULL);
    paddr_t a = frame_with(0xC3);
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
    KT_ASSERT_EQ(free_frames(), before);
}

/* The kernel half's PDPTs are made once, by vmm_init, and every space shares
 * them through copies of its PML4 entries. A map in a kernel-half slot that
 * has none must fail: a PDPT made then would reach only the live space (not
 * the spaces made before it) and, kernel-half PDPTs never being freed, would
 * leak on unmap. */
KTEST(vmm_kernel_half_slots_are_fixed)
{
    uint64_t before = free_frames();
    paddr_t pa = frame_with(0xD4);
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
    KT_ASSERT_EQ(free_frames(), before);
    /* The slots vmm_init made still take new tables below their PDPT. */
    vaddr_t kva_end = KVA_LIMIT - PAGE_SIZE;
    KT_ASSERT_EQ(vmm_map(kva_end, frame_with(0xD5), VMM_NX), 0);
    paddr_t got = 0;
    KT_ASSERT_EQ(vmm_unmap(kva_end, &got), 0);
    pmm_free((void *)got, 1);
    KT_ASSERT_EQ(free_frames(), before);
}

/* The page-table windows (PML4[510], the live space's recursive entry, and
 * PML4[509], the foreign one) hold nothing but tables: with NX they must be
 * no-execute, or every page table is RWX at a fixed address. Code written
 * into a page-table entry must not run. */
KTEST(vmm_table_windows_are_nx)
{
    if (!vmm_nx)
        return; /* without NX every page is executable: nothing to check */
    uint64_t before = free_frames();
    vaddr_t win = pg_make(RECURSIVE_SLOT, 0, 0, 0, 0);
    KT_ASSERT(*(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, win) & PTE_NX);

    struct vmm_space *s = vmm_space_create();
    KT_ASSERT(s != NULL);
    bool irq = arch_irq_save();
    unsigned slot = vmm_attach(s);
    uint64_t foreign = *(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, pg_make(FOREIGN_SLOT, 0, 0, 0, 0));
    uint64_t own = *(volatile uint64_t *)pg_pml4e_addr(slot, win); /* s's PML4[510] */
    vmm_detach(slot);
    arch_irq_restore(irq);
    vmm_space_destroy(s);
    KT_ASSERT(foreign & PTE_NX);
    KT_ASSERT(own & PTE_NX);

    /* nop; ret in a PTE that stays not present (0x90 has bit 0 clear). */
    paddr_t pa = frame_with(0);
    KT_ASSERT(pa != 0);
    vaddr_t va = SCRATCH(6);
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
    KT_ASSERT_EQ(free_frames(), before);
    KT_ASSERT_EQ(how, 1);
    KT_ASSERT_EQ(arch_last_fault()->vector, 14);
    KT_ASSERT(arch_last_fault()->error & 16); /* an instruction fetch */
}

/* The temp-map window belongs to vmm_map_temp alone: its PT is in .bss, so a
 * vmm_map there would be taken over by the next temp mapping, and an unmap
 * would hand the .bss table to the PMM. */
KTEST(vmm_temp_window_is_not_mappable)
{
    uint64_t before = free_frames();
    paddr_t pa = frame_with(0);
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
    KT_ASSERT_EQ(free_frames(), before);
}

/* A global entry survives a CR3 switch: in the user half, one space's page
 * would show through in the next. VMM_GLOBAL is refused below USER_LIMIT,
 * in the live space and through the foreign slot alike. */
KTEST(vmm_global_refused_in_user_half)
{
    uint64_t before = free_frames();
    paddr_t pa = frame_with(0x6262);
    KT_ASSERT(pa != 0);
    vaddr_t va = SCRATCH(7);
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
    KT_ASSERT_EQ(free_frames(), before);
}

/* A panic that a recovery point catches (the monitor's) abandons the
 * operation it hit: the VMM must not keep what that operation held. Here
 * all temp slots are taken until vmm_map_temp panics, then a destroy panics
 * while the space is attached through the foreign slot (a frame mapped
 * twice); after each, the slots and the foreign window are free again, so
 * the VMM goes on working. */
KTEST(vmm_recovered_panic_undoes_vmm_state)
{
    uint64_t before = free_frames();
    uint32_t slots = vmm_temp_slots_used();
    paddr_t pa = frame_with(0x5a5a);
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
    bool attached = *(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT,
                                                        pg_make(FOREIGN_SLOT, 0, 0, 0, 0)) &
                    PTE_PRESENT;
    KT_ASSERT_EQ(how, 2);
    KT_ASSERT(!attached);
    /* The space is still usable: take its entries back (the frame is
     * already free), and the tables go with them. */
    KT_ASSERT_EQ(vmm_space_unmap(s, va, NULL), 0);
    KT_ASSERT_EQ(vmm_space_unmap(s, va + PAGE_SIZE, NULL), 0);
    vmm_space_destroy(s);
    KT_ASSERT_EQ(free_frames(), before);
}
