/*
 * The monitor's promise: no command brings the kernel down unless the user
 * asks for it. This file decides what `map`, `free` and `poke` must refuse.
 *
 * A frame is the kernel's (mon_frame_busy) when it is
 *   - the PMM bitmap, or in the kernel image or a boot module (the boot map
 *     says kernel-and-modules: code, data, stacks, the IDT, GDT and TSS, the
 *     temp window's tables, the boot tables);
 *   - a page table of the live address space, or mapped by it in the kernel
 *     half (the heap's pages, kernel ranges, the bitmap window): found by
 *     scanning the live tables (arch_frame_find_use);
 *   - usable RAM the PMM has handed out, but not to the monitor's alloc;
 *   - usable RAM that is free: mapping it would let the PMM hand it out (as
 *     a page table, say) under the monitor's mapping.
 * What is left is the playground: runs from the monitor's alloc, memory the
 * PMM never hands out (the low 1 MiB), and what is not RAM at all (device
 * memory, firmware areas), where a mapping cannot hurt the kernel.
 *
 * An address is the kernel's (mon_addr_busy) when it is in one of the kernel
 * half's regions (mon_kernel_region), or when it is a user-half page whose
 * frame is the kernel's (a forced map! made it).
 *
 * The forced forms (map!, free!, poke!) skip these checks with a warning;
 * the VMM's and the PMM's own checks still apply.
 */
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/stivale2.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

#include <arch/monitor.h>

#include "monitor.h"

#define LOW_MEMORY 0x100000ULL /* the PMM never hands out the first MiB */

bool mon_forced(const char *cmd)
{
    size_t n = strlen(cmd);
    return n > 0 && cmd[n - 1] == '!';
}

static const char *const table_names[] = {"", "PT", "PD", "PDPT", "PML4"};

void mon_describe_use(const struct arch_frame_use *u, char *why, size_t size)
{
    if (u->table && u->level == 4)
        ksnprintf(why, size, "the live PML4 (CR3)");
    else if (u->table)
        ksnprintf(why, size, "a page table of the live address space (the %s for 0x%llx)",
                  table_names[u->level], (unsigned long long)u->va);
    else {
        const char *region = mon_kernel_region(u->va);
        ksnprintf(why, size, "mapped at 0x%llx (%s)", (unsigned long long)u->va,
                  region ? region : u->va < USER_LIMIT ? "the user half" : "the kernel half");
    }
}

bool mon_frame_busy(paddr_t pa, char *why, size_t size)
{
    pa = ALIGN_DOWN(pa, PAGE_SIZE);
    paddr_t bm;
    size_t bm_bytes;
    pmm_bitmap_location(&bm, &bm_bytes);
    if (bm_bytes && pa >= ALIGN_DOWN(bm, PAGE_SIZE) && pa < ALIGN_UP(bm + bm_bytes, PAGE_SIZE)) {
        ksnprintf(why, size, "the PMM bitmap");
        return true;
    }
    int type = mon_ram_type(pa);
    if (type == STIVALE2_MMAP_KERNEL_AND_MODULES) {
        ksnprintf(why, size, "the kernel image or a boot module (code, data, stacks, the "
                             "IDT, GDT and TSS, page tables)");
        return true;
    }
    if (type != STIVALE2_MMAP_USABLE && type != STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE)
        return false; /* not RAM the kernel manages: device memory (the VGA text
                       * buffer the console writes), firmware areas */
    struct arch_frame_use use;
    if (arch_frame_find_use(pa, 1, false, &use)) {
        char u[128];
        mon_describe_use(&use, u, sizeof(u));
        ksnprintf(why, size, "%s%s", use.table ? "" : "in use by the kernel: ", u);
        return true;
    }
    if (mon_frame_owned(pa) || pa < LOW_MEMORY)
        return false;
    if (pmm_frame_is_free(pa))
        ksnprintf(why, size, "free in the PMM (alloc it first: the PMM could hand it out, "
                             "as a page table say, under this mapping)");
    else
        ksnprintf(why, size, "allocated by the kernel, not by the monitor's alloc (a heap "
                             "or slab page, a table of another space)");
    return true;
}

bool mon_addr_busy(vaddr_t va, char *why, size_t size)
{
    const char *region = mon_kernel_region(va);
    if (region) {
        ksnprintf(why, size, "in %s, which the kernel needs intact", region);
        return true;
    }
    paddr_t pa;
    if (va < USER_LIMIT && vmm_translate(va, &pa, NULL) == 0) {
        char f[200];
        if (mon_frame_busy(pa, f, sizeof(f))) {
            ksnprintf(why, size, "mapped to frame 0x%llx, %s", (unsigned long long)(pa & ~(paddr_t)PAGE_MASK), f);
            return true;
        }
    }
    return false;
}
