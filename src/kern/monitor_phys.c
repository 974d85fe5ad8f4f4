/*
 * Monitor commands on physical memory: mem, memmap, alloc, free.
 *
 * memmap prints the boot memory map the adapter normalised (a copy taken by
 * monitor_save_bootinfo before the bootloader's frames are reclaimed), and
 * for each region a bar of BAR_CELLS cells: each cell samples up to
 * BAR_SAMPLES frames of its slice with pmm_frame_is_free and shows
 *   '.' all sampled frames free, '#' all in use, '+' some of each
 * (lines stay within 80 columns, for the VGA screen).
 * Sampling keeps a 128 GiB region as cheap to draw as a 1 MiB one.
 */
#include <arch/monitor.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/monitor.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>

#include "monitor.h"

#define MAP_MAX 64
#define BAR_CELLS 20
#define BAR_SAMPLES 16

static struct stivale2_mmap_entry saved_map[MAP_MAX];
static size_t saved_count;
static bool saved_truncated;

void monitor_save_bootinfo(struct stivale2_struct *info)
{
    struct stivale2_struct_tag_memmap *mm = stivale2_get_tag(info, STIVALE2_STRUCT_TAG_MEMMAP_ID);
    if (!mm)
        return;
    saved_count = mm->entries < MAP_MAX ? mm->entries : MAP_MAX;
    saved_truncated = mm->entries > MAP_MAX;
    for (size_t i = 0; i < saved_count; i++)
        saved_map[i] = mm->memmap[i];
}

/* "12 MiB", "640 KiB", "3 GiB": the largest unit that divides evenly-ish. */
static void human(uint64_t bytes, char *buf, size_t size)
{
    if (bytes >= GiB(4))
        ksnprintf(buf, size, "%llu GiB", (unsigned long long)(bytes >> 30));
    else if (bytes >= MiB(4))
        ksnprintf(buf, size, "%llu MiB", (unsigned long long)(bytes >> 20));
    else
        ksnprintf(buf, size, "%llu KiB", (unsigned long long)(bytes >> 10));
}

static void draw_bar(uint64_t base, uint64_t len, char *bar)
{
    uint64_t first = ALIGN_UP(base, PAGE_SIZE) >> PAGE_SHIFT;
    uint64_t end = (base + len) >> PAGE_SHIFT;
    uint64_t frames = end > first ? end - first : 0;
    unsigned cells = frames < BAR_CELLS ? (unsigned)frames : BAR_CELLS;
    for (unsigned c = 0; c < cells; c++) {
        uint64_t lo = first + frames * c / cells, hi = first + frames * (c + 1) / cells;
        uint64_t step = (hi - lo + BAR_SAMPLES - 1) / BAR_SAMPLES;
        unsigned nfree = 0, n = 0;
        for (uint64_t f = lo; f < hi; f += step ? step : 1, n++)
            nfree += pmm_frame_is_free(f << PAGE_SHIFT);
        bar[c] = nfree == n ? '.' : nfree == 0 ? '#' : '+';
    }
    bar[cells] = '\0';
}

void mon_cmd_memmap(int argc, char **argv)
{
    if (saved_count == 0) {
        mon_unavailable("memmap (no boot memory map was handed to the monitor)");
        return;
    }
    printk("%-25s %8s %-22s %s\n", "physical range", "size", "type", "frames (.free #used)");
    for (size_t i = 0; i < saved_count; i++) {
        const struct stivale2_mmap_entry *e = &saved_map[i];
        char sz[16], bar[BAR_CELLS + 1] = "";
        human(e->length, sz, sizeof(sz));
        if (e->type == STIVALE2_MMAP_USABLE || e->type == STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE ||
            e->type == STIVALE2_MMAP_KERNEL_AND_MODULES)
            draw_bar(e->base, e->length, bar);
        printk("%012llx-%012llx %8s %-*s %s\n", (unsigned long long)e->base,
               (unsigned long long)(e->base + e->length), sz, bar[0] ? 22 : 0,
               stivale2_mmap_type_name(e->type), bar);
    }
    if (saved_truncated)
        printk("(only the first %d entries are shown)\n", MAP_MAX);
}

void mon_cmd_mem(int argc, char **argv)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    char a[16], b[16], c[16], r[16];
    human(st.usable_pages * PAGE_SIZE, a, sizeof(a));
    human(st.free_pages * PAGE_SIZE, b, sizeof(b));
    human(st.used_pages * PAGE_SIZE, c, sizeof(c));
    human(st.reserved_pages * PAGE_SIZE, r, sizeof(r));
    printk("frames: %llu usable (%s), %llu free (%s), %llu used (%s)\n",
           (unsigned long long)st.usable_pages, a, (unsigned long long)st.free_pages, b,
           (unsigned long long)st.used_pages, c);
    printk("        of the free, %llu in the per-CPU frame caches\n",
           (unsigned long long)st.cached_pages);
    printk("        %llu reserved (%s); PMM bitmap: %llu bytes at phys 0x%llx\n",
           (unsigned long long)st.reserved_pages, r, (unsigned long long)st.bitmap_bytes,
           (unsigned long long)st.bitmap_phys);
    mon_heap_summary();
}

/* The most frames alloc/free accept: all usable frames. */
static uint64_t frame_limit(void)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    return st.usable_pages ? st.usable_pages : 1;
}

/*
 * alloc remembers what it handed out, so that free can tell "give back what
 * the monitor took" from "free a frame the kernel is using" (its page tables,
 * the heap's pages): the PMM would accept the latter, and the kernel would
 * fall over later. free therefore takes a run the monitor allocated (exactly
 * as allocated) that nothing maps any more, or a range holding no frame in
 * use at all, which only exercises the PMM's own checks (double free,
 * alignment, reserved memory). free! skips the monitor's checks.
 */
#define ALLOC_TRACK 32
static struct {
    paddr_t pa;
    uint64_t n; /* 0: slot unused */
} runs[ALLOC_TRACK];

void mon_cmd_alloc(int argc, char **argv)
{
    uint64_t n;
    if (!mon_count(argv[1], "frame count", frame_limit(), &n))
        return;
    unsigned slot = 0;
    while (slot < ALLOC_TRACK && runs[slot].n)
        slot++;
    if (slot == ALLOC_TRACK) {
        printk("the monitor already holds %d runs of frames: free some first\n", ALLOC_TRACK);
        return;
    }
    void *p = pmm_alloc(n);
    if (!p) {
        printk("alloc %llu: no run of %llu free contiguous frames\n", (unsigned long long)n,
               (unsigned long long)n);
        return;
    }
    runs[slot].pa = (paddr_t)(uintptr_t)p;
    runs[slot].n = n;
    printk("allocated %llu frame%s at phys 0x%llx\n", (unsigned long long)n, n > 1 ? "s" : "",
           (unsigned long long)(uintptr_t)p);
}

int mon_ram_type(paddr_t pa)
{
    for (size_t i = 0; i < saved_count; i++) {
        const struct stivale2_mmap_entry *e = &saved_map[i];
        if (pa >= e->base && pa - e->base < e->length)
            return (int)e->type;
    }
    return -1;
}

bool mon_frame_owned(paddr_t pa)
{
    for (int i = 0; i < ALLOC_TRACK; i++)
        if (runs[i].n && pa >= runs[i].pa && pa - runs[i].pa < runs[i].n * PAGE_SIZE)
            return true;
    return false;
}

/* Why free must not take [pa, pa + n frames), printed; false when it may:
 * no frame of it is a page table or still mapped (a freed frame would come
 * back as a page table, say, behind the mapping), and every frame in use is
 * in a run the monitor allocated, taken back whole. */
static bool free_refused(paddr_t pa, uint64_t n, int slot)
{
    struct arch_frame_use use;
    if (arch_frame_find_use(pa, n, true, &use)) {
        char why[160];
        mon_describe_use(&use, why, sizeof(why));
        printk("refusing: frame 0x%llx is %s%s; free! does it anyway\n",
               (unsigned long long)use.frame, use.table ? "" : "still ", why);
        if (!use.table && use.va < USER_LIMIT)
            printk("(unmap 0x%llx first)\n", (unsigned long long)use.va);
        return true;
    }
    if (slot >= 0)
        return false;
    for (uint64_t f = 0; f < n; f++) {
        paddr_t at = pa + f * PAGE_SIZE;
        if (pmm_frame_is_free(at))
            continue; /* the PMM's own check reports a double free */
        char why[200];
        if (mon_frame_owned(at)) {
            printk("refusing: frame 0x%llx is part of a run the monitor allocated: free the "
                   "whole run, as allocated\n",
                   (unsigned long long)at);
            return true;
        }
        if (mon_frame_busy(at, why, sizeof(why))) {
            printk("refusing: frame 0x%llx is not free and not from the monitor's alloc: %s; "
                   "free! does it anyway\n",
                   (unsigned long long)at, why);
            return true;
        }
    }
    return false;
}

void mon_cmd_free(int argc, char **argv)
{
    uint64_t pa, n;
    bool force = mon_forced(argv[0]);
    if (!mon_num(argv[1], "physical address", &pa) ||
        !mon_count(argv[2], "frame count", frame_limit(), &n))
        return;
    int slot = -1;
    for (int i = 0; i < ALLOC_TRACK; i++)
        if (runs[i].n && runs[i].pa == pa && runs[i].n == n)
            slot = i;
    if (force)
        printk("warning: free! skips the monitor's checks: if the kernel uses these frames "
               "it will fall over\n");
    else if (IS_ALIGNED(pa, PAGE_SIZE) && free_refused(pa, n, slot))
        return;
    int err = pmm_free_checked((void *)(uintptr_t)pa, n);
    if (err) {
        const char *why = err == -E_DOUBLE    ? "a frame in that range is already free"
                          : err == -E_ALIGN   ? "the address is not page-aligned"
                          : err == -E_RANGE   ? "the range is outside the managed memory"
                          : err == -E_BADFREE ? "those frames were never usable memory"
                                              : "refused";
        printk("free refused by the PMM: %s (%s); nothing was changed\n", err_name(err), why);
        return;
    }
    if (slot >= 0)
        runs[slot].n = 0;
    else /* free! of part of a run: forget runs it touched, they are no longer whole */
        for (int i = 0; i < ALLOC_TRACK; i++)
            if (runs[i].n && runs[i].pa < pa + n * PAGE_SIZE &&
                pa < runs[i].pa + runs[i].n * PAGE_SIZE)
                runs[i].n = 0;
    printk("freed %llu frame%s at phys 0x%llx\n", (unsigned long long)n, n > 1 ? "s" : "",
           (unsigned long long)pa);
}
