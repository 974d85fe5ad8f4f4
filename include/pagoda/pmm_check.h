/*
 * Freed-frame checking (src/mm/pmm_check.c), `pmm_check=1`: every frame
 * pmm_free takes back is filled with a pattern, and the pattern is verified
 * when the PMM hands the frame out again, so a write through a stale
 * mapping of a freed frame is caught (at the latest) at its next allocation.
 */
#ifndef PAGODA_PMM_CHECK_H
#define PAGODA_PMM_CHECK_H

#include <pagoda/types.h>

/* The 64-bit word a checked free frame holds everywhere. */
#define PMM_CHECK_PATTERN 0xf4eedf4eedf4eedfULL

/* Bytes of zeroed memory pmm_check_enable needs: one bit per frame. */
size_t pmm_check_bitmap_bytes(void);
/* Start checking, with `bitmap` (pmm_check_bitmap_bytes() zeroed bytes,
 * kept for good). Frames freed before this are not checked. Call after
 * pmm_init, once frames can be mapped (after vmm_init in the kernel). */
void pmm_check_enable(void *bitmap);
/* Stop checking and forget which frames hold the pattern (tests). */
void pmm_check_disable(void);
bool pmm_check_enabled(void);

struct pmm_check_stats {
    uint64_t filled;   /* frames filled on free */
    uint64_t verified; /* frames verified on allocation */
    uint64_t pending;  /* filled frames not handed out yet */
};
void pmm_check_get_stats(struct pmm_check_stats *st);

/* Verify one frame now, as an allocation would, without allocating it:
 * 0 if it is not filled or still holds the pattern, else the offset + 1 of
 * the first changed word (no panic). */
size_t pmm_check_probe(paddr_t pa);

#endif
