/*
 * Pagoda's virtual memory layout, in one place.
 *
 *  0xffffffffffffffff +--------------------------------------+
 *                     | (unused)                             |
 *  0xfffffffffff00000 +--------------------------------------+
 *                     | temp-map windows: TEMP_MAP_SLOTS     | RW, NX; its PD and
 *                     | pages per CPU for vmm_map_temp(phys),| PT sit in .bss
 *                     | CPU i's at +i * TEMP_MAP_SLOTS pages |
 *  0xffffffffffe00000 +--------------------------------------+
 *                     | (unused)                             |
 *       __kernel_end  +--------------------------------------+
 *                     | .bss: kernel stacks first, each with | RW, NX
 *                     | an unmapped guard page below it,     | (guard: not
 *                     | then the rest of .bss                |  present)
 *                     | .data                                | RW, NX
 *                     | .rodata (and the .ktests table)      | R,  NX
 *                     | .text                                | R,  X
 *  0xffffffff80100000 +--------------------------------------+ KERNEL_VMA + 1 MiB
 *                     | VGA text buffer alias at +0xB8000    | RW, NX (1 page)
 *  0xffffffff80000000 +--------------------------------------+ KERNEL_VMA (PML4[511])
 *                     | (unused)                             |
 *  0xffffff8000000000 +--------------------------------------+
 *                     | recursive window: PML4[510] -> PML4  | page tables of
 *                     |   PTs  at 0xffffff0000000000         | the live space
 *                     |   PDs  at 0xffffff7f80000000         | (<arch/paging.h>)
 *                     |   PDPTs at 0xffffff7fbfc00000        |
 *                     |   PML4 at 0xffffff7fbfdfe000         |
 *  0xffffff0000000000 +--------------------------------------+
 *                     | foreign window: PML4[509] -> another | while editing an
 *                     | space's PML4 (PML4 at                | inactive space
 *                     | 0xfffffeffbfdfe000)                  |
 *  0xfffffe8000000000 +--------------------------------------+
 *                     | (unused)                             |
 *  0xffff818000000000 +--------------------------------------+
 *                     | kernel virtual ranges: vmm_alloc,    | PML4[258]; first
 *                     | VMM_DEMAND ranges, extra stacks      | fit, an unmapped
 *                     |                                      | guard page on each
 *                     |                                      | side of a range
 *  0xffff810000000000 +--------------------------------------+
 *                     | kernel heap (list allocator pages)   | PML4[257]
 *  0xffff808000000000 +--------------------------------------+
 *                     | PMM bitmap (up to 8 MiB for 256 GiB) | PML4[256], RW, NX
 *  0xffff800000000000 +--------------------------------------+
 *                     | non-canonical hole                   |
 *  0x0000800000000000 +--------------------------------------+
 *                     | user half: private to each address   | PML4[0..255]
 *                     | space (vmm_space_create); a process's| (src/kern/proc.h
 *                     | code, heap, mmap, stack, guard gap   |  draws it)
 *  0x0000000000001000 +--------------------------------------+
 *                     | page 0: never mapped, so NULL faults |
 *  0x0000000000000000 +--------------------------------------+
 *
 * The kernel heap region's top 2 MiB hold the sampled guard pages' pool
 * (<pagoda/kfence.h>, src/kern/memcheck_boot.c): a read-only anchor page,
 * then guard, slot, guard, ... pages; the heap grows from the bottom and
 * never reaches it.
 * Boot (before vmm_init): the trampoline also identity-maps physical
 * 0..4 GiB and maps physical 0..1 GiB at KERNEL_VMA with 2 MiB pages.
 * vmm_init builds the kernel space above in fresh tables and switches CR3,
 * so both are gone afterwards. The kernel half's PML4 entries (256, 257,
 * 258, 511) exist from then on and are never freed: every address space
 * copies them, so kernel mappings made later reach all spaces.
 */
#ifndef PAGODA_MEMLAYOUT_H
#define PAGODA_MEMLAYOUT_H

#define KERNEL_VMA        0xffffffff80000000ULL
#define KERNEL_PHYS       0x100000ULL

#define RECURSIVE_SLOT    510
#define FOREIGN_SLOT      509
#define KERNEL_SLOT       511

#define PMM_BITMAP_BASE   0xffff800000000000ULL
#define KHEAP_BASE        0xffff808000000000ULL
#define KHEAP_LIMIT       0xffff810000000000ULL
#define KVA_BASE          0xffff810000000000ULL
#define KVA_LIMIT         0xffff818000000000ULL
#define TEMP_MAP_BASE     0xffffffffffe00000ULL
#define TEMP_MAP_SLOTS    16 /* per CPU (SMP_MAX_CPUS windows) */

#define USER_LIMIT        0x0000800000000000ULL
#define EARLY_IDENTITY_LIMIT 0x100000000ULL /* identity map before vmm_init */

#endif
