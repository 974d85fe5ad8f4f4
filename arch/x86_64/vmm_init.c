/*
 * vmm_init: from the trampoline's tables to the kernel's own address space.
 *
 * The boot tables map too much: physical 0..4 GiB at 0 (so NULL is a valid
 * pointer) and 0..1 GiB at KERNEL_VMA with writable, executable 2 MiB pages.
 * Rather than edit them while running on them, we build the kernel space in
 * fresh tables and switch CR3 once, so there is no moment at which the code,
 * the stack or the tables being edited are unmapped:
 *
 *   1. Hook the temp window (static tables in .bss) into the boot tables.
 *   2. Take a zeroed PML4 frame; its entry 510 points at itself.
 *   3. Attach it through PML4[509] of the boot tables and fill it:
 *      - PDPTs for every kernel-half slot the layout uses (256 bitmap,
 *        257 heap, 258 kernel ranges, 511 kernel), so that spaces made later
 *        share them all, and PDPT[511] entry 511 -> the temp window's PD;
 *      - the kernel image from the linker symbols, 4 KiB pages, W^X:
 *        .text R+X, .rodata R+NX, .data/.bss RW+NX, minus every stack's
 *        guard page (the table from KSTACK_DEFINE);
 *      - the VGA text buffer at KERNEL_VMA + 0xB8000, RW+NX;
 *      - the PMM bitmap at PMM_BITMAP_BASE, RW+NX.
 *   4. Load CR3. The PMM's bitmap moves to its window at once, before any
 *      allocation, because the identity map it used is gone.
 */
#include <arch/arch.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>

#include "cpu.h"
#include "vmm_internal.h"
#include "x86.h"

extern const uint8_t __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern const uint8_t __data_start[], __data_end[];

#define VGA_PHYS 0xB8000ULL

static const unsigned kernel_half_slots[] = {
    (unsigned)((PMM_BITMAP_BASE >> 39) & 511),
    (unsigned)((KHEAP_BASE >> 39) & 511),
    (unsigned)((KVA_BASE >> 39) & 511),
    KERNEL_SLOT,
};

static void must(int rc, const char *what, vaddr_t va)
{
    if (rc)
        panic("vmm_init: cannot map %s at 0x%llx: %s", what, (unsigned long long)va, err_name(rc));
}

/* Map [start, end) of the image at its link address; returns the pages
 * mapped and counts the guard pages it left out. */
static size_t map_section(unsigned slot, const void *start, const void *end, unsigned flags,
                          const char *what, size_t *guards)
{
    size_t n = 0;
    for (vaddr_t va = (vaddr_t)start; va < (vaddr_t)end; va += PAGE_SIZE) {
        if (kstack_guard_hit(va)) {
            (*guards)++;
            continue;
        }
        must(vmm_map_in(slot, va, va - KERNEL_VMA, flags), what, va);
        n++;
    }
    return n;
}

void vmm_init(void)
{
    vmm_nx = cpu_has_nx() && (rdmsr(MSR_EFER) & EFER_NXE);
    if (!vmm_nx)
        printk("vmm: NX not available: data pages stay executable (W^X is only W)\n");

    vmm_temp_init();
    paddr_t pml4 = vmm_alloc_table();
    if (!pml4)
        panic("vmm_init: no frame for the kernel PML4");
    uint64_t *t = vmm_map_temp(pml4);
    t[RECURSIVE_SLOT] = pml4 | vmm_window_bits();
    vmm_unmap_temp(t);
    vmm_kernel_space.pml4 = pml4;
    vmm_kernel_space.in_use = true;

    unsigned slot = vmm_attach(&vmm_kernel_space); /* nothing is live yet: 509 */
    ASSERT(slot == FOREIGN_SLOT);
    for (size_t i = 0; i < ARRAY_SIZE(kernel_half_slots); i++)
        must(vmm_ensure_pdpt(slot, kernel_half_slots[i]), "a kernel PDPT",
             pg_make(kernel_half_slots[i], 0, 0, 0, 0));
    *(volatile uint64_t *)pg_pdpte_addr(slot, TEMP_MAP_BASE) = vmm_temp_pdpte();

    size_t guards = 0;
    size_t text = map_section(slot, __text_start, __text_end, 0, ".text", &guards);
    size_t ro = map_section(slot, __rodata_start, __rodata_end, VMM_NX, ".rodata", &guards);
    size_t rw = map_section(slot, __data_start, __data_end, VMM_WRITE | VMM_NX, ".data", &guards);
    must(vmm_map_in(slot, KERNEL_VMA + VGA_PHYS, VGA_PHYS, VMM_WRITE | VMM_NX), "VGA",
         KERNEL_VMA + VGA_PHYS);

    paddr_t bm_phys;
    size_t bm_bytes;
    pmm_bitmap_location(&bm_phys, &bm_bytes);
    size_t bm_pages = ALIGN_UP((bm_phys & PAGE_MASK) + bm_bytes, PAGE_SIZE) / PAGE_SIZE;
    for (size_t i = 0; i < bm_pages; i++)
        must(vmm_map_in(slot, PMM_BITMAP_BASE + i * PAGE_SIZE,
                        ALIGN_DOWN(bm_phys, PAGE_SIZE) + i * PAGE_SIZE, VMM_WRITE | VMM_NX),
             "the PMM bitmap", PMM_BITMAP_BASE + i * PAGE_SIZE);
    vmm_detach(slot);

    /* The switch. The boot PML4[509] we just cleared is left behind with the
     * rest of the boot tables (they live in the image's .boot section). */
    bool irq = arch_irq_save();
    vmm_cpu_init(); /* the boot CPU's live space, and its bit in `active` */
    write_cr3(pml4);
    /* Only now may VMM_GLOBAL mean something: a global entry would outlive
     * the CR3 switch above. No boot-table entry is global. */
    if (cpu_has_pge())
        write_cr4(read_cr4() | CR4_PGE);
    pmm_bitmap_move((void *)(PMM_BITMAP_BASE + (bm_phys & PAGE_MASK)));
    arch_irq_restore(irq);
    pmm_set_frame_access(vmm_map_temp, vmm_unmap_temp);
    vmm_fault_init();

    printk("vmm: kernel space at CR3=0x%llx: .text %zu pages r-x, .rodata %zu r--, "
           ".data/.bss %zu rw-, %zu stack guard pages unmapped\n",
           (unsigned long long)pml4, text, ro, rw, guards);
    printk("vmm: identity map and 2 MiB kernel window gone; PMM bitmap (%zu pages) at "
           "0x%llx; NX %s\n",
           bm_pages, (unsigned long long)PMM_BITMAP_BASE, vmm_nx ? "on" : "off");
}
