/*
 * In-kernel tests of the PMM (`test=pmm_`). They reach frame contents only
 * through the PMM's frame-access hooks, so they also run after vmm_init.
 * Every test leaves the free count exactly where it found it.
 */
#include <pagoda/bootinfo.h>
#include <pagoda/crc32.h>
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "pmm_priv.h"

static uint64_t free_pages(void)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    return st.free_pages;
}

KTEST(pmm_alloc_free_basic)
{
    uint64_t start = free_pages();
    KT_ASSERT(pmm_alloc(0) == NULL);
    KT_ASSERT(pmm_alloc(start + 1) == NULL);
    KT_ASSERT(pmm_alloc((size_t)-1) == NULL);
    void *p = pmm_alloc(1);
    KT_ASSERT(p != NULL);
    KT_ASSERT((paddr_t)(uintptr_t)p >= PMM_LOW_RESERVE);
    KT_ASSERT(!pmm_frame_is_free((paddr_t)(uintptr_t)p));
    KT_ASSERT_EQ(free_pages(), start - 1);
    pmm_free(p, 1);
    KT_ASSERT(pmm_frame_is_free((paddr_t)(uintptr_t)p));
    KT_ASSERT(pmm_alloc(1) == p); /* first fit gives the same frame back */
    pmm_free(p, 1);

    void *big = pmm_alloc_aligned(512, 512);
    KT_ASSERT(big != NULL);
    KT_ASSERT(IS_ALIGNED((paddr_t)(uintptr_t)big, MiB(2)));
    void *dma = pmm_alloc_below(16, MiB(16));
    KT_ASSERT(dma != NULL);
    KT_ASSERT((paddr_t)(uintptr_t)dma + 16 * PAGE_SIZE <= MiB(16));
    KT_ASSERT(pmm_alloc_below(1, PMM_LOW_RESERVE) == NULL);
    pmm_free(big, 512);
    pmm_free(dma, 16);
    KT_ASSERT_EQ(free_pages(), start);
}

KTEST(pmm_allocz_zeroes)
{
    uint64_t start = free_pages();
    /* Dirty three frames, give them back, and ask for zeroed ones. */
    void *p = pmm_alloc(3);
    KT_ASSERT(p != NULL);
    for (int i = 0; i < 3; i++) {
        uint8_t *va = pmm_frame_map((paddr_t)(uintptr_t)p + i * PAGE_SIZE);
        KT_ASSERT(va != NULL);
        memset(va, 0xa5, PAGE_SIZE);
        pmm_frame_unmap(va);
    }
    pmm_free(p, 3);
    void *z = pmm_allocz(3);
    KT_ASSERT(z != NULL);
    for (int i = 0; i < 3; i++) {
        const uint64_t *va = pmm_frame_map((paddr_t)(uintptr_t)z + i * PAGE_SIZE);
        KT_ASSERT(va != NULL);
        uint64_t acc = 0;
        for (int k = 0; k < 512; k++)
            acc |= va[k];
        pmm_frame_unmap((void *)va);
        KT_ASSERT_EQ(acc, 0);
    }
    pmm_free(z, 3);
    KT_ASSERT_EQ(free_pages(), start);
}

KTEST(pmm_bad_frees_are_refused)
{
    uint64_t start = free_pages();
    struct pmm_stats st;
    pmm_get_stats(&st);
    void *p = pmm_alloc(2);
    KT_ASSERT(p != NULL);
    pmm_free((char *)p + PAGE_SIZE, 1);
    KT_ASSERT_EQ(pmm_free_checked((char *)p + PAGE_SIZE, 1), -E_DOUBLE);
    KT_ASSERT_EQ(pmm_free_checked(p, 2), -E_DOUBLE);
    KT_ASSERT_EQ(pmm_free_checked((char *)p + 8, 1), -E_ALIGN);
    KT_ASSERT_EQ(pmm_free_checked(p, 0), -E_RANGE);
    KT_ASSERT_EQ(pmm_free_checked((void *)(uintptr_t)0xfd00000000ULL, 1), -E_RANGE);
    KT_ASSERT_EQ(pmm_free_checked((void *)0x1000, 1), -E_BADFREE);      /* low 1 MiB */
    KT_ASSERT_EQ(pmm_free_checked((void *)KERNEL_PHYS, 1), -E_BADFREE); /* kernel */
    KT_ASSERT_EQ(pmm_free_checked((void *)(uintptr_t)st.bitmap_phys, 1), -E_BADFREE);
    KT_ASSERT_EQ(free_pages(), start - 1);
    pmm_free(p, 1);
    KT_ASSERT_EQ(free_pages(), start);
}

/* A bitmap of every frame, in frames from the PMM, reached one page at a
 * time through the frame-access hooks (the page in use stays mapped). */
struct seen {
    paddr_t base;
    uint64_t pages, cur;
    uint64_t *va;
};

static uint64_t *seen_word(struct seen *s, uint64_t frame)
{
    uint64_t page = frame >> 15; /* 32768 bits per page */
    if (page != s->cur) {
        if (s->va)
            pmm_frame_unmap(s->va);
        s->va = pmm_frame_map(s->base + page * PAGE_SIZE);
        s->cur = page;
    }
    return s->va ? &s->va[(frame >> 6) & 511] : NULL;
}

static uint64_t pattern(uint64_t frame, unsigned i)
{
    return (frame * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)i << 32) ^ 0x5a5a;
}

/* Write (or verify) frame f's pattern. 1: done, 0: mismatch, -1: the hooks
 * cannot reach the frame (above 4 GiB before the VMM). */
static int frame_pattern(uint64_t f, bool write)
{
    uint64_t *va = pmm_frame_map(f << PAGE_SHIFT);
    if (!va)
        return -1;
    int ok = 1;
    for (unsigned i = 0; i < 512; i++) {
        if (write)
            va[i] = pattern(f, i);
        else if (va[i] != pattern(f, i))
            ok = 0;
    }
    pmm_frame_unmap(va);
    return ok;
}

/* CRC-32 of every module, through the hooks, xor-folded with its index. */
static uint32_t modules_crc(unsigned *count)
{
    struct stivale2_struct_tag_modules *mt =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_MODULES_ID);
    uint32_t all = 0;
    *count = mt ? (unsigned)mt->module_count : 0;
    for (unsigned i = 0; i < *count; i++) {
        uint32_t crc = 0;
        for (paddr_t pa = mt->modules[i].begin; pa < mt->modules[i].end;) {
            paddr_t page = ALIGN_DOWN(pa, PAGE_SIZE);
            size_t n = MIN(page + PAGE_SIZE, mt->modules[i].end) - pa;
            const uint8_t *va = pmm_frame_map(page);
            if (!va)
                return 0;
            crc = crc32_update(crc, va + (pa - page), n);
            pmm_frame_unmap((void *)va);
            pa += n;
        }
        all ^= crc * (i + 1);
    }
    return all;
}

/* The USABLE entry of the boot memory map (or a reclaimed bootloader one)
 * that holds the page at pa, or NULL. The last match is tried first. */
static const struct stivale2_mmap_entry *usable_entry(paddr_t pa)
{
    static const struct stivale2_struct_tag_memmap *m;
    static const struct stivale2_mmap_entry *last;
    /* Once pmm_reclaim_bootloader ran, the core forgot its reclaim list. */
    bool reclaimed = pmm_core_instance()->nreclaim == 0;
    if (!m)
        m = stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_MEMMAP_ID);
    if (last && pa >= last->base && pa + PAGE_SIZE <= last->base + last->length)
        return last;
    for (uint64_t i = 0; m && i < m->entries; i++) {
        const struct stivale2_mmap_entry *e = &m->memmap[i];
        bool usable = e->type == STIVALE2_MMAP_USABLE ||
                      (e->type == STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE && reclaimed);
        if (usable && pa >= e->base && pa + PAGE_SIZE <= e->base + e->length)
            return last = e;
    }
    return NULL;
}

/* Are frames [f, f + n) all in usable memory (possibly several entries)? */
static bool in_usable_memory(uint64_t f, uint64_t n)
{
    paddr_t pa = f << PAGE_SHIFT, end = (f + n) << PAGE_SHIFT;
    while (pa < end) {
        const struct stivale2_mmap_entry *e = usable_entry(pa);
        if (!e)
            return false;
        pa = e->base + e->length;
    }
    return true;
}

/* Record frames [f, f + n) as handed out: false if one already was. */
static bool seen_mark(struct seen *s, uint64_t f, uint64_t n)
{
    for (uint64_t e = f + n; f < e;) {
        uint64_t stop = MIN(e, ALIGN_DOWN(f, 64) + 64);
        uint64_t mask = (stop - f == 64 ? ~0ULL : (1ULL << (stop - f)) - 1) << (f & 63);
        uint64_t *w = seen_word(s, f);
        if (!w || (*w & mask))
            return false;
        *w |= mask;
        f = stop;
    }
    return true;
}

/* Write or check the patterns of the sampled frames among [f, f + n): the
 * frames of every `group`-th 2 MiB block (group 1: every frame). */
static void patterns(uint64_t f, uint64_t n, uint64_t group, bool write, uint64_t *done,
                     uint64_t *unreachable, uint64_t *bad)
{
    for (uint64_t g = f; g < f + n; g++) {
        if ((g >> 9) % group)
            continue;
        int r = frame_pattern(g, write);
        *done += r > 0;
        *unreachable += r < 0;
        *bad += r == 0;
    }
}

/*
 * Allocate every free frame until NULL, check each is handed out once and
 * lies in usable memory, write a pattern into the sampled frames, verify
 * them, free everything: the free count and the modules are unchanged.
 * Up to 512 MiB of RAM: single frames, every frame patterned. Above: runs
 * of 64 first (then single frames for the rest), freed a word at a time,
 * and a sample patterned: whole 2 MiB blocks (512 frames) spread evenly,
 * about 32 of them in the memory the hooks reach. First writes to guest RAM are what costs in TCG
 * (the host backs it on first touch), so the sample touches few host regions.
 */
KTEST(pmm_every_frame_once)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    uint64_t start = st.free_pages;
    struct pmm_core *c = pmm_core_instance();
    unsigned nmod;
    uint32_t crc_before = modules_crc(&nmod);
    bool small = st.usable_pages <= (MiB(512) >> PAGE_SHIFT);
    uint64_t reach =
        pmm_frame_access_is_early() ? MIN(c->nframes, EARLY_IDENTITY_LIMIT >> 12) : c->nframes;
    uint64_t group = small ? 1 : reach / (512 * 32) + 1;

    struct seen s = {.cur = UINT64_MAX};
    s.pages = (c->nframes + 32767) / 32768;
    s.base = (paddr_t)(uintptr_t)(pmm_frame_access_is_early()
                                      ? pmm_alloc_below(s.pages, EARLY_IDENTITY_LIMIT)
                                      : pmm_alloc(s.pages));
    KT_ASSERT(s.base != 0);
    for (uint64_t p = 0; p < s.pages; p++) { /* clear, then mark itself */
        void *va = pmm_frame_map(s.base + p * PAGE_SIZE);
        KT_ASSERT(va != NULL);
        memset(va, 0, PAGE_SIZE);
        pmm_frame_unmap(va);
    }
    uint64_t sfirst = s.base >> PAGE_SHIFT, send = sfirst + s.pages;
    KT_ASSERT(seen_mark(&s, sfirst, s.pages));

    uint64_t got = 0, written = 0, unreachable = 0, bad = 0;
    for (size_t chunk = small ? 1 : 64;;) {
        void *p = pmm_alloc(chunk);
        if (!p) {
            if (chunk == 1)
                break;
            chunk = 1;
            continue;
        }
        uint64_t f = (paddr_t)(uintptr_t)p >> PAGE_SHIFT;
        KT_ASSERT(f >= PMM_LOW_RESERVE >> PAGE_SHIFT && f + chunk <= c->nframes);
        if (!in_usable_memory(f, chunk))
            KT_ASSERT(!"frames outside usable memory");
        if (!seen_mark(&s, f, chunk))
            KT_ASSERT(!"a frame was handed out twice");
        got += chunk;
        patterns(f, chunk, group, true, &written, &unreachable, &bad);
    }
    KT_ASSERT_EQ(got, start - s.pages);
    KT_ASSERT_EQ(free_pages(), 0);
    KT_ASSERT_EQ(pmm_core_check(c), 0);

    /* Verify the patterns, then free everything but the seen bitmap. */
    uint64_t verified = 0, freed = 0, ignored = 0;
    for (uint64_t base = 0; base < c->nframes; base += 64) {
        uint64_t *w = seen_word(&s, base);
        KT_ASSERT(w != NULL);
        if (!small && *w == ~0ULL && (base + 64 <= sfirst || base >= send)) {
            patterns(base, 64, group, false, &verified, &ignored, &bad);
            KT_ASSERT_EQ(pmm_free_checked((void *)(uintptr_t)(base << PAGE_SHIFT), 64), 0);
            freed += 64;
            continue;
        }
        for (uint64_t bits = *w; bits; bits &= bits - 1) {
            uint64_t f = base + (uint64_t)__builtin_ctzll(bits);
            if (f >= sfirst && f < send)
                continue;
            patterns(f, 1, group, false, &verified, &ignored, &bad);
            KT_ASSERT_EQ(pmm_free_checked((void *)(uintptr_t)(f << PAGE_SHIFT), 1), 0);
            freed++;
        }
    }
    if (s.va)
        pmm_frame_unmap(s.va);
    KT_ASSERT_EQ(bad, 0); /* a pattern changed */
    KT_ASSERT_EQ(verified, written);
    KT_ASSERT_EQ(freed, got);
    pmm_free((void *)(uintptr_t)s.base, s.pages);
    KT_ASSERT_EQ(free_pages(), start);
    KT_ASSERT_EQ(pmm_core_check(c), 0);
    uint32_t crc_after = modules_crc(&nmod);
    KT_ASSERT_EQ(crc_after, crc_before);
    char sample[48] = "all of them";
    if (!small)
        ksnprintf(sample, sizeof(sample), "every %llu. 2 MiB block", (unsigned long long)group);
    printk("pmm: %llu frames allocated once each (%s); patterns verified in %llu frames "
           "(%s; %llu unreachable before the VMM); %u module CRC-32s unchanged\n",
           (unsigned long long)got, small ? "single frames" : "runs of 64, then single",
           (unsigned long long)verified, sample, (unsigned long long)unreachable, nmod);
}

/* The lowest run of n free frames at a multiple of align at or above 1 MiB,
 * found frame by frame (the reference), or 0. */
static paddr_t ref_first_fit(struct pmm_core *c, uint64_t n, uint64_t align)
{
    uint64_t run = 0;
    for (uint64_t f = PMM_LOW_RESERVE >> PAGE_SHIFT; f < c->nframes; f++) {
        if (!pmm_core_is_free(c, f << PAGE_SHIFT)) {
            run = 0;
            continue;
        }
        if (run == 0 && f % align)
            continue;
        if (++run == n)
            return (f + 1 - n) << PAGE_SHIFT;
    }
    return 0;
}

/*
 * Runs on a fragmented stretch of the real PMM: a block of up to 8192
 * frames (two run-summary groups) is taken, then one frame in 64 and a few
 * short runs across its words and its group boundary are given back. Every
 * run allocation must be the lowest fit (checked frame by frame), and the
 * core's summaries must stay consistent.
 */
KTEST(pmm_fragmented_runs_first_fit)
{
    uint64_t start = free_pages();
    struct pmm_core *c = pmm_core_instance();
    uint64_t blk = MIN(8192, ALIGN_DOWN(start / 2, 64));
    KT_ASSERT(blk >= 256);
    paddr_t base = (paddr_t)(uintptr_t)pmm_alloc(blk);
    KT_ASSERT(base != 0);
    uint64_t f0 = base >> PAGE_SHIFT, freed = 0;
    for (uint64_t w = 0; w < blk / 64; w++) {
        uint64_t f = f0 + w * 64 + (w * 37) % 64;
        KT_ASSERT_EQ(pmm_free_checked((void *)(uintptr_t)(f << PAGE_SHIFT), 1), 0);
        freed++;
    }
    /* 20-frame stretches across a word boundary and across the middle (a
     * group boundary when the block is a whole 8192 frames and aligned). */
    uint64_t spots[] = {f0 + 64 * 3 - 10, f0 + ALIGN_DOWN(blk / 2, 64) - 10};
    for (unsigned i = 0; i < ARRAY_SIZE(spots); i++)
        for (uint64_t f = spots[i]; f < spots[i] + 20; f++)
            if (!pmm_frame_is_free(f << PAGE_SHIFT)) {
                KT_ASSERT_EQ(pmm_free_checked((void *)(uintptr_t)(f << PAGE_SHIFT), 1), 0);
                freed++;
            }
    pmm_pcp_flush(); /* the single frames from this CPU's cache into the bitmap */
    static const uint64_t sizes[][2] = {{3, 1}, {16, 1}, {20, 1}, {16, 4}, {200, 1}, {512, 512}};
    void *got[ARRAY_SIZE(sizes)];
    for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
        paddr_t want = ref_first_fit(c, sizes[i][0], sizes[i][1]);
        got[i] = pmm_alloc_aligned(sizes[i][0], sizes[i][1]);
        KT_ASSERT_EQ((paddr_t)(uintptr_t)got[i], want);
    }
    KT_ASSERT_EQ(pmm_core_check(c), 0);
    for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++)
        if (got[i])
            pmm_free(got[i], sizes[i][0]);
    for (uint64_t f = f0; f < f0 + blk; f++) /* the block's used frames back */
        if (!pmm_frame_is_free(f << PAGE_SHIFT))
            pmm_free((void *)(uintptr_t)(f << PAGE_SHIFT), 1);
    KT_ASSERT_EQ(free_pages(), start);
}
