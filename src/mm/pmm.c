/*
 * The kernel's physical memory manager: <pagoda/pmm.h> over one instance of
 * the portable core (<pagoda/pmm_core.h>, src/mm/pmm_core*.c) with per-CPU
 * frame caches in front of it (<pagoda/pmm_pcp.h>, src/mm/pmm_pcp.c).
 *
 * Theory of operation
 * -------------------
 * pmm_init reads the stivale2 MEMMAP tag, sizes the bitmap (one bit per
 * frame up to the highest usable byte, plus the summary levels: 8.2 MiB for
 * 256 GiB, 8 KiB for 128 MiB) and, after it, the frame caches' `cached` bit
 * array (one bit per frame again), puts both at the highest place in usable
 * RAM below 4 GiB (where the boot identity map reaches them) and lets the
 * core mark them used. The VMM later maps and moves the block as one.
 * Everything the map does not call usable starts used: reserved, ACPI, bad
 * memory, the kernel and modules, and the bootloader-reclaimable memory
 * until pmm_reclaim_bootloader.
 *
 * SMP. One global spinlock (LOCK_LEVEL_PMM, the innermost allocator lock:
 * page-table code holds its own locks when it asks for frames) guards the
 * core, the low-page claims and the frame-access hooks' users of the core.
 * Every entry point is SMP-safe. Single frames (pmm_alloc(1), pmm_free of
 * one frame, pmm_allocz(1) once the VMM is up) go through the running CPU's
 * frame cache, which takes the lock only once per batch of 32 frames: a
 * single-frame alloc+free pair at the cache costs no atomic read-modify-
 * write on a shared line but the cached bit, and no lock at all. Runs,
 * aligned and bounded allocations go to the core under the lock; when the
 * core cannot satisfy one, the CPU drains its own cache and asks the others
 * to drain theirs (pmm_pcp_steal), then tries once more, so frames parked
 * in caches never make an allocation fail. Statistics count cached frames
 * as free (exact, read under the lock); `cpus` at the monitor shows each
 * CPU's cache. The lock is taken with interrupts on (no frame is allocated
 * in an interrupt handler), so a CPU spinning on it still takes shootdowns.
 *
 * Frame 0 and the whole low 1 MiB are never handed out. Frame 0 keeps NULL
 * an error value. The rest of the first MiB holds the real-mode IVT and BDA,
 * the EBDA, and the BIOS/option ROM areas; it is where SMP trampolines and
 * any future real-mode call need memory below 1 MiB, and some firmware
 * writes there behind the OS's back. It is under 640 KiB of RAM: keeping it
 * is cheap and removes a class of heisenbugs.
 *
 * Frame contents are reached only through the frame-access hooks: the
 * default is the boot identity map (phys == virt below 4 GiB); vmm_init
 * installs temp-map hooks and moves the bitmap to its own window. While the
 * default hooks are in place, pmm_allocz takes frames below 4 GiB only (from
 * the core, not the caches, whose frames may lie anywhere).
 *
 * Freed-frame checking (pmm_check=1) fills a frame when pmm_free accepts
 * it, before any other CPU can see it (a frame in a cache is its owner's
 * until popped or drained), and verifies it wherever it is handed out from.
 *
 * Cost: cached single frames, a few loads and stores and one atomic bit op
 * each way; everything else, the core's cost plus an uncontended lock.
 * Weaknesses: first fit for runs; up to 128 frames per CPU sit in caches,
 * where a run cannot use them until an allocation fails and drains them.
 */
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/pmm_pcp.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "pmm_check.h"
#include "pmm_priv.h"

static struct pmm_core pmm;
static struct pmm_pcp_pool pool; /* the frame caches and the global lock */
#define pmm_lock (pool.lock)
static size_t core_bytes; /* the core's part of the bitmap block */
static bool pmm_ready;
static bool pcp_on = true; /* single frames through the per-CPU caches */
static const struct stivale2_struct_tag_memmap *boot_map; /* for pmm_reserve_low */

static void *early_map(paddr_t pa)
{
    return pa < EARLY_IDENTITY_LIMIT ? (void *)(uintptr_t)pa : NULL;
}
static void early_unmap(void *va)
{
    UNUSED(va);
}

static void *(*frame_map)(paddr_t pa) = early_map;
static void (*frame_unmap)(void *va) = early_unmap;

static void require_ready(const char *who)
{
    if (unlikely(!pmm_ready))
        panic("%s called before pmm_init", who);
}

/* The MEMMAP tag of info, walking at most a sane number of tags. */
static struct stivale2_struct_tag_memmap *find_memmap(struct stivale2_struct *info)
{
    uint64_t addr = info ? info->tags : 0;
    for (int i = 0; addr && i < 256; i++) {
        struct stivale2_tag *t = (struct stivale2_tag *)(uintptr_t)addr;
        if (t->identifier == STIVALE2_STRUCT_TAG_MEMMAP_ID)
            return (struct stivale2_struct_tag_memmap *)t;
        addr = t->next;
    }
    return NULL;
}

void pmm_init(struct stivale2_struct *info)
{
    if (pmm_ready)
        panic("pmm_init called twice");
    struct stivale2_struct_tag_memmap *m = find_memmap(info);
    if (!m || m->entries == 0)
        panic("pmm: the boot information has no memory map");
    core_bytes = pmm_core_bitmap_bytes(m->memmap, m->entries);
    if (core_bytes == 0)
        panic("pmm: the memory map has no usable memory");
    size_t bytes = core_bytes + pmm_pcp_cached_bytes(pmm_core_frames(m->memmap, m->entries));
    paddr_t at = pmm_core_place_bitmap(m->memmap, m->entries, bytes, EARLY_IDENTITY_LIMIT);
    if (at == 0)
        panic("pmm: no usable place below 4 GiB for a %zu-byte bitmap", bytes);
    int err = pmm_core_init(&pmm, m->memmap, m->entries, early_map(at), at, bytes);
    if (err)
        panic("pmm: cannot build the bitmap: %s", err_name(err));
    pmm_pcp_init(&pool, &pmm, (uint8_t *)early_map(at) + core_bytes);
    pmm_ready = true;
    boot_map = m;
    if (pmm.lost_frames)
        printk("pmm: warning: map too fragmented, %llu KiB of usable RAM left unused\n",
               (unsigned long long)(pmm.lost_frames * 4));
    printk("pmm: usable=%llu KiB free=%llu KiB bitmap=%zu bytes at 0x%llx\n",
           (unsigned long long)(pmm.usable_frames * 4), (unsigned long long)(pmm.free_frames * 4),
           pmm.bitmap_bytes, (unsigned long long)pmm.bitmap_phys);
}

/* Every allocation leaves through here: freed-frame checking (pmm_check.c,
 * off unless `pmm_check=1`) verifies the frames that hold its pattern. */
static inline void *handout(paddr_t pa, size_t page_count)
{
    if (unlikely(pmm_check_on))
        pmm_check_handout(pa, page_count);
    return (void *)(uintptr_t)pa;
}

/* A run from the core under the lock, the way `how` says. When the core has
 * none, drain this CPU's cache and ask the others to drain theirs, then try
 * once more: frames parked in caches never make an allocation fail. */
enum how { ANY, ALIGNED, BELOW };
static paddr_t core_run(size_t n, size_t align, uint64_t end_frame, enum how how)
{
    for (int pass = 0;; pass++) {
        spin_lock(&pmm_lock);
        paddr_t pa = how == ANY ? pmm_core_alloc(&pmm, n)
                                : pmm_core_alloc_run(&pmm, n, align, end_frame);
        bool cached = !pa && pmm_pcp_total(&pool) != 0; /* only on failure */
        spin_unlock(&pmm_lock);
        if (pa || pass || !cached || n == 0)
            return pa;
        pmm_pcp_drain(&pool);
        pmm_pcp_steal(&pool);
    }
}

void *pmm_alloc(size_t page_count)
{
    require_ready("pmm_alloc");
    if (likely(page_count == 1 && pcp_on))
        return handout(pmm_pcp_alloc(&pool), 1);
    return handout(core_run(page_count, 1, 0, ANY), page_count);
}

void *pmm_allocz(size_t page_count)
{
    require_ready("pmm_allocz");
    paddr_t pa;
    /* The identity map reaches only 4 GiB: stay below it until the VMM. */
    if (frame_map == early_map)
        pa = core_run(page_count, 1, EARLY_IDENTITY_LIMIT >> PAGE_SHIFT, BELOW);
    else if (page_count == 1 && pcp_on)
        pa = pmm_pcp_alloc(&pool);
    else
        pa = core_run(page_count, 1, 0, ANY);
    handout(pa, page_count);
    for (size_t i = 0; pa && i < page_count; i++) {
        void *va = pmm_frame_map(pa + i * PAGE_SIZE);
        if (!va)
            panic("pmm_allocz: cannot map frame 0x%llx", (unsigned long long)(pa + i * PAGE_SIZE));
        memset(va, 0, PAGE_SIZE);
        pmm_frame_unmap(va);
    }
    return (void *)(uintptr_t)pa;
}

static const char *free_error_text(int err)
{
    switch (-err) {
    case E_DOUBLE:
        return "double free (a frame is already free)";
    case E_BADFREE:
        return "frame was never usable (reserved, kernel, low 1 MiB or bitmap)";
    case E_ALIGN:
        return "pointer is not page aligned";
    case E_RANGE:
        return "outside the managed physical memory (or a zero count)";
    default:
        return "bad free";
    }
}

void pmm_free(void *ptr, size_t page_count)
{
    int err = pmm_free_checked(ptr, page_count);
    if (unlikely(err))
        panic("pmm_free(0x%llx, %zu pages): %s [%s]", (unsigned long long)(uintptr_t)ptr,
              page_count, free_error_text(err), err_name(err));
}

int pmm_free_checked(void *ptr, size_t page_count)
{
    require_ready("pmm_free");
    paddr_t pa = (paddr_t)(uintptr_t)ptr;
    int err;
    if (likely(page_count == 1 && pcp_on)) {
        /* In this CPU's cache now, and only this CPU pops or drains it, so
         * filling it after the push is safe. */
        err = pmm_pcp_free(&pool, pa);
    } else {
        spin_lock(&pmm_lock);
        err = !(pa & PAGE_MASK) && pmm_pcp_any_cached(&pool, pa >> PAGE_SHIFT, page_count)
                  ? -E_DOUBLE
                  : pmm_core_free(&pmm, pa, page_count);
        spin_unlock(&pmm_lock);
    }
    if (unlikely(pmm_check_on) && !err)
        pmm_check_freed(pa, page_count);
    return err;
}

void *pmm_alloc_aligned(size_t page_count, size_t align_pages)
{
    require_ready("pmm_alloc_aligned");
    return handout(core_run(page_count, align_pages, UINT64_MAX, ALIGNED), page_count);
}

void *pmm_alloc_below(size_t page_count, paddr_t limit)
{
    require_ready("pmm_alloc_below");
    return handout(core_run(page_count, 1, limit >> PAGE_SHIFT, BELOW), page_count);
}

bool pmm_pcp_set_enabled(bool on)
{
    require_ready("pmm_pcp_set_enabled");
    bool was = pcp_on;
    pcp_on = on;
    if (!on)
        pmm_pcp_drain(&pool);
    return was;
}

size_t pmm_pcp_count(unsigned cpu)
{
    return pmm_ready ? pmm_pcp_count_of(&pool, cpu) : 0;
}

void pmm_pcp_flush(void)
{
    if (pmm_ready)
        pmm_pcp_drain(&pool);
}

void pmm_cpu_idle(void)
{
    if (pmm_ready)
        pmm_pcp_poll(&pool);
}

#define LOW_CLAIMS 4
static struct {
    paddr_t pa;
    const char *owner;
} low_claims[LOW_CLAIMS];

static bool low_usable(paddr_t pa)
{
    for (uint64_t i = 0; i < boot_map->entries; i++) {
        const struct stivale2_mmap_entry *e = &boot_map->memmap[i];
        if (e->type == STIVALE2_MMAP_USABLE && pa >= e->base && pa + PAGE_SIZE <= e->base + e->length)
            return true;
    }
    return false;
}

/* The claim itself, under the lock: the page, or 0. */
static paddr_t claim_low(const char *owner)
{
    unsigned slot = 0;
    while (slot < LOW_CLAIMS && low_claims[slot].pa)
        slot++;
    if (slot == LOW_CLAIMS)
        return 0;
    /* 0x8000 first, the usual home of real-mode code; page 0 (IVT, BDA)
     * never. */
    for (int pass = 0; pass < 2; pass++)
        for (paddr_t pa = pass ? 0x1000 : 0x8000; pa < (pass ? 0x8000 : PMM_LOW_RESERVE);
             pa += PAGE_SIZE) {
            bool taken = false;
            for (unsigned i = 0; i < slot; i++)
                taken |= low_claims[i].pa == pa;
            if (taken || !low_usable(pa))
                continue;
            low_claims[slot].pa = pa;
            low_claims[slot].owner = owner;
            return pa;
        }
    return 0;
}

paddr_t pmm_reserve_low(const char *owner)
{
    require_ready("pmm_reserve_low");
    spin_lock(&pmm_lock);
    paddr_t pa = claim_low(owner);
    spin_unlock(&pmm_lock);
    if (pa) /* printk outside the lock: the console is slow */
        printk("pmm: low page 0x%llx reserved for the %s\n", (unsigned long long)pa, owner);
    return pa;
}

void pmm_reclaim_bootloader(void)
{
    require_ready("pmm_reclaim_bootloader");
    spin_lock(&pmm_lock);
    uint64_t frames = pmm_core_reclaim(&pmm);
    uint64_t free = pmm.free_frames + pmm_pcp_total(&pool);
    spin_unlock(&pmm_lock);
    printk("pmm: reclaimed %llu KiB of bootloader memory; free=%llu KiB\n",
           (unsigned long long)(frames * 4), (unsigned long long)(free * 4));
}

void pmm_get_stats(struct pmm_stats *st)
{
    require_ready("pmm_get_stats");
    spin_lock(&pmm_lock);
    uint64_t cached = pmm_pcp_total(&pool);
    st->usable_pages = pmm.usable_frames;
    st->free_pages = pmm.free_frames + cached;
    st->cached_pages = cached;
    st->used_pages = pmm.usable_frames - st->free_pages;
    st->reserved_pages = pmm.nframes - pmm.usable_frames;
    st->bitmap_bytes = pmm.bitmap_bytes;
    st->bitmap_phys = pmm.bitmap_phys;
    spin_unlock(&pmm_lock);
}

bool pmm_frame_is_free(paddr_t pa)
{
    if (!pmm_ready)
        return false;
    spin_lock(&pmm_lock);
    bool free = pmm_core_is_free(&pmm, pa) || pmm_pcp_is_cached(&pool, pa);
    spin_unlock(&pmm_lock);
    return free;
}

void pmm_bitmap_location(paddr_t *phys, size_t *bytes)
{
    require_ready("pmm_bitmap_location");
    *phys = pmm.bitmap_phys;
    *bytes = pmm.bitmap_bytes;
}

void pmm_bitmap_move(void *va)
{
    require_ready("pmm_bitmap_move");
    spin_lock(&pmm_lock);
    pmm_core_move(&pmm, va);
    spin_unlock(&pmm_lock);
    pmm_pcp_move(&pool, (uint8_t *)va + core_bytes);
}

void pmm_set_frame_access(void *(*map)(paddr_t pa), void (*unmap)(void *va))
{
    frame_map = map ? map : early_map;
    frame_unmap = map && unmap ? unmap : early_unmap;
}

void *pmm_frame_map(paddr_t pa)
{
    return frame_map(pa);
}

void pmm_frame_unmap(void *va)
{
    frame_unmap(va);
}

bool pmm_frame_access_is_early(void)
{
    return frame_map == early_map;
}

struct pmm_core *pmm_core_instance(void)
{
    return &pmm;
}

struct pmm_pcp_pool *pmm_pcp_instance(void)
{
    return &pool;
}
