/*
 * Physical memory manager: a bitmap of 4 KiB frames (src/mm/pmm.c) with a
 * per-CPU cache of free single frames in front (src/mm/pmm_pcp.c). Every
 * function is SMP-safe; none may be called from an interrupt handler.
 * Counts are in pages; addresses are physical. Frame 0 and the low 1 MiB
 * are never handed out, so NULL always means failure.
 */
#ifndef PAGODA_PMM_H
#define PAGODA_PMM_H

#include <pagoda/stivale2.h>
#include <pagoda/types.h>

/* Build the bitmap from info's MEMMAP tag. Call once, before the VMM; it
 * reaches physical memory through the boot identity map (below 4 GiB). */
void pmm_init(struct stivale2_struct *info);

/* page_count contiguous free frames, or NULL (also for 0 or absurd counts).
 * Never a partial run. */
void *pmm_alloc(size_t page_count);
/* The same, zero-filled (through vmm_map_temp once the VMM is up). */
void *pmm_allocz(size_t page_count);
/* Give back frames from pmm_alloc*. A double free, a frame that was never
 * usable, or a misaligned pointer panics, naming the address. */
void pmm_free(void *ptr, size_t page_count);
/* The checked core of pmm_free: 0, or -E_DOUBLE, -E_BADFREE, -E_ALIGN,
 * -E_RANGE, leaving the bitmap untouched on error. */
int pmm_free_checked(void *ptr, size_t page_count);

/* page_count frames whose base is a multiple of align_pages (a power of 2),
 * e.g. 512 for a 2 MiB page. NULL when impossible. */
void *pmm_alloc_aligned(size_t page_count, size_t align_pages);
/* page_count frames ending at or below `limit` (e.g. 16 MiB for ISA DMA). */
void *pmm_alloc_below(size_t page_count, paddr_t limit);

/* Claim one page below 1 MiB for a fixed use (`owner`, e.g. the AP
 * trampoline): the lowest page from 0x8000 up (then from 0x1000) that the
 * memory map calls usable and nobody has claimed. The PMM never hands out
 * low memory, so the page is the owner's for good. 0 when none is left. */
paddr_t pmm_reserve_low(const char *owner);

/* Free the BOOTLOADER_RECLAIMABLE frames, once nothing reads the boot info. */
void pmm_reclaim_bootloader(void);

struct pmm_stats {
    uint64_t usable_pages;   /* usable RAM the bitmap manages (incl. reclaimed) */
    uint64_t free_pages;     /* free now (incl. the frames in per-CPU caches) */
    uint64_t cached_pages;   /* of those, in per-CPU caches */
    uint64_t used_pages;     /* usable but allocated (incl. the bitmap) */
    uint64_t reserved_pages; /* never usable: reserved, ACPI, kernel, ... */
    uint64_t bitmap_bytes;
    paddr_t bitmap_phys;
};
void pmm_get_stats(struct pmm_stats *st);

/* Is this frame free (in the bitmap or a CPU's cache)? (for tests and the
 * monitor's memory bar) */
bool pmm_frame_is_free(paddr_t pa);

/* Frames in CPU cpu's frame cache now (0 before pmm_init or out of range). */
size_t pmm_pcp_count(unsigned cpu);
/* Give the running CPU's frame cache back to the bitmap (tests, benchmarks). */
void pmm_pcp_flush(void);
/* Route single frames through the per-CPU caches (the default) or around
 * them, to the bitmap under the lock (benchmarks, tests); off also flushes
 * the running CPU's cache. Returns the previous setting. */
bool pmm_pcp_set_enabled(bool on);
/* The idle loop's call: give the cache back if another CPU ran out of
 * frames and asked. */
void pmm_cpu_idle(void);

/*
 * How the PMM reaches frame contents. Before the VMM it uses the boot
 * identity map; vmm_init calls these to hand over to its own windows.
 */
/* The bitmap's physical place and size, so the VMM can map it. */
void pmm_bitmap_location(paddr_t *phys, size_t *bytes);
/* From now on, the bitmap is at `va`. */
void pmm_bitmap_move(void *va);
/* From now on, map a frame with map(pa) and release it with unmap(va) to
 * touch its contents (pmm_allocz and the self-tests). */
void pmm_set_frame_access(void *(*map)(paddr_t pa), void (*unmap)(void *va));

#endif
