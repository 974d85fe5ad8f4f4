/*
 * In-kernel tests of the VMM's page-table core (`test=vmm_`): map, translate,
 * protect and unmap, the tables they make and free, TLB invalidation, the
 * kernel image's W^X sections, the refusals of bad arguments, ranges, the
 * temp-map window and 2 MiB splits. The tests of vmm_alloc and of separate
 * spaces are in vmm_space_ktest.c, the hardening checks in
 * vmm_harden_ktest.c; the helpers they share are here (vmm_ktest.h).
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
#include "vmm_ktest.h"
#include "x86.h"

extern const uint8_t __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern const uint8_t __data_start[], __data_end[];

uint64_t vmm_kt_free_frames(void)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    return st.free_pages;
}

paddr_t vmm_kt_frame_with(uint64_t pattern)
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
    uint64_t before = vmm_kt_free_frames();
    KT_ASSERT_EQ(!!(read_cr4() & CR4_PGE), cpu_has_pge());
    paddr_t pa = vmm_kt_frame_with(0x6161);
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
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

KTEST(vmm_map_translate_unmap)
{
    uint64_t before = vmm_kt_free_frames();
    paddr_t pa = vmm_kt_frame_with(0x1111);
    KT_ASSERT(pa != 0);
    vaddr_t va = VMM_KT_SCRATCH(0) + 0x12345000;
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
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

KTEST(vmm_tables_freed)
{
    /* A fresh PML4 slot needs a PDPT, a PD and a PT: exactly three frames,
     * all given back by the unmap. */
    uint64_t before = vmm_kt_free_frames();
    paddr_t pa = vmm_kt_frame_with(0);
    KT_ASSERT(pa != 0);
    vaddr_t va = VMM_KT_SCRATCH(1);
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_WRITE | VMM_NX), 0);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before - 4);
    /* A neighbour in the same PT costs no table. */
    KT_ASSERT_EQ(vmm_map(va + PAGE_SIZE, pa, VMM_NX), 0);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before - 4);
    KT_ASSERT_EQ(vmm_unmap(va, NULL), 0);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before - 4); /* the PT is not empty yet */
    KT_ASSERT_EQ(vmm_unmap(va + PAGE_SIZE, NULL), 0);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before - 1);
    KT_ASSERT_EQ(*(volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, va), 0);
    pmm_free((void *)pa, 1);
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

KTEST(vmm_tlb_invalidation)
{
    uint64_t before = vmm_kt_free_frames();
    paddr_t a = vmm_kt_frame_with(0xAAAA), b = vmm_kt_frame_with(0xBBBB);
    KT_ASSERT(a && b);
    vaddr_t va = VMM_KT_SCRATCH(2);
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
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
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
    uint64_t before = vmm_kt_free_frames();
    paddr_t pa = vmm_kt_frame_with(0);
    KT_ASSERT(pa != 0);
    vaddr_t va = VMM_KT_SCRATCH(3);
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
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

KTEST(vmm_ranges)
{
    uint64_t before = vmm_kt_free_frames();
    paddr_t pa = (paddr_t)pmm_alloc(4);
    KT_ASSERT(pa != 0);
    vaddr_t va = VMM_KT_SCRATCH(4);
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
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}

KTEST(vmm_temp_window)
{
    paddr_t pa = vmm_kt_frame_with(0x7e3b);
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
    uint64_t before = vmm_kt_free_frames();
    vaddr_t va = VMM_KT_SCRATCH(5);
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
    KT_ASSERT_EQ(vmm_kt_free_frames(), before);
}
