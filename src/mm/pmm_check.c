/*
 * Freed-frame checking: catch writes to frames after they were freed.
 *
 * Theory of operation
 * -------------------
 * With checking on, pmm_free (after the core accepted the free) fills every
 * word of each frame with PMM_CHECK_PATTERN and sets the frame's bit in a
 * "filled" bitmap of its own (one bit per frame the PMM manages, given by
 * the caller). Every allocation path of pmm.c then passes the frames it is
 * about to return through pmm_check_handout: a filled frame must still hold
 * the pattern in every word, or something wrote to it while it was free (a
 * stale mapping, a DMA, a dangling pointer into a page). That panics, naming
 * the frame and the first changed word. The bit is cleared either way.
 *
 * Frames free before checking started were never filled and are not
 * checked: the bitmap, not the contents, says which frames hold the pattern,
 * so a write that happens to look like "not filled" cannot hide.
 *
 * Frame contents are reached through the PMM's frame-access hooks
 * (pmm_frame_map: the VMM's temp map in the kernel), exactly as pmm_allocz
 * zeroes frames. Cost, only with `pmm_check=1`: a 4 KiB fill per freed
 * frame and a 4 KiB compare per allocated one, each through a temporary
 * mapping. Off, one predicted branch per PMM call.
 *
 * Weaknesses: a write is found when the frame is handed out again, not when
 * it happens (the frame may be gone for good: pmm_check_probe helps tests);
 * frames the kernel frees without pmm_free (none today) are not covered.
 */
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "pmm_check.h"
#include "pmm_priv.h"

bool pmm_check_on;

static struct {
    uint64_t *filled;
    uint64_t nframes;
    struct pmm_check_stats st;
} ck;

size_t pmm_check_bitmap_bytes(void)
{
    return ALIGN_UP(pmm_core_instance()->nframes, 64) / 8;
}

void pmm_check_enable(void *bitmap)
{
    ck.filled = bitmap;
    ck.nframes = pmm_core_instance()->nframes;
    memset(&ck.st, 0, sizeof(ck.st));
    pmm_check_on = bitmap != NULL;
}

void pmm_check_disable(void)
{
    pmm_check_on = false;
    ck.filled = NULL;
}

bool pmm_check_enabled(void)
{
    return pmm_check_on;
}

void pmm_check_get_stats(struct pmm_check_stats *st)
{
    *st = ck.st;
}

/* Atomic bit and counter updates: CPUs free and allocate frames of the same
 * bitmap word at once (each frame is one CPU's at a time). */
static bool test_and_clear(uint64_t f)
{
    uint64_t bit = 1ULL << (f & 63);
    return __atomic_fetch_and(&ck.filled[f >> 6], ~bit, __ATOMIC_RELAXED) & bit;
}

static bool test_and_set(uint64_t f)
{
    uint64_t bit = 1ULL << (f & 63);
    return __atomic_fetch_or(&ck.filled[f >> 6], bit, __ATOMIC_RELAXED) & bit;
}

static void count(uint64_t *v, int64_t d)
{
    __atomic_fetch_add(v, (uint64_t)d, __ATOMIC_RELAXED);
}

void pmm_check_freed(paddr_t pa, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        paddr_t f = pa + i * PAGE_SIZE;
        uint64_t *w = pmm_frame_map(f);
        if (!w)
            continue; /* unreachable: leave it unchecked */
        for (size_t j = 0; j < PAGE_SIZE / 8; j++)
            w[j] = PMM_CHECK_PATTERN;
        pmm_frame_unmap(w);
        uint64_t fn = f >> PAGE_SHIFT;
        if (fn < ck.nframes && !test_and_set(fn)) {
            count(&ck.st.filled, 1);
            count(&ck.st.pending, 1);
        }
    }
}

/* The offset + 1 of the first word of frame f that lost the pattern, or 0;
 * *value gets that word. */
static size_t first_change(paddr_t f, uint64_t *value)
{
    const uint64_t *w = pmm_frame_map(f);
    size_t at = 0;
    if (!w)
        return 0;
    for (size_t j = 0; j < PAGE_SIZE / 8; j++)
        if (w[j] != PMM_CHECK_PATTERN) {
            *value = w[j];
            at = j * 8 + 1;
            break;
        }
    pmm_frame_unmap((void *)w);
    return at;
}

void pmm_check_handout(paddr_t pa, size_t n)
{
    for (size_t i = 0; pa && i < n; i++) {
        paddr_t f = pa + i * PAGE_SIZE;
        uint64_t fn = f >> PAGE_SHIFT;
        if (fn >= ck.nframes || !test_and_clear(fn))
            continue;
        count(&ck.st.pending, -1);
        count(&ck.st.verified, 1);
        uint64_t v = 0;
        size_t at = first_change(f, &v);
        if (at) {
            size_t words = 0; /* how much of the frame changed, for the report */
            const uint64_t *w = pmm_frame_map(f);
            for (size_t j = 0; w && j < PAGE_SIZE / 8; j++)
                words += w[j] != PMM_CHECK_PATTERN;
            if (w)
                pmm_frame_unmap((void *)w);
            printk("\npmm_check: frame 0x%llx was written after it was freed: %zu of 512 words "
                   "changed, the first at offset 0x%zx (0x%016llx instead of 0x%016llx)\n",
                   (unsigned long long)f, words, at - 1, (unsigned long long)v,
                   (unsigned long long)PMM_CHECK_PATTERN);
            panic("pmm: frame 0x%llx written after it was freed (offset 0x%zx)",
                  (unsigned long long)f, at - 1);
        }
    }
}

size_t pmm_check_probe(paddr_t pa)
{
    uint64_t fn = pa >> PAGE_SHIFT, v;
    if (!pmm_check_on || fn >= ck.nframes || !(ck.filled[fn >> 6] & (1ULL << (fn & 63))))
        return 0;
    return first_change(ALIGN_DOWN(pa, PAGE_SIZE), &v);
}
