/*
 * Private to the PMM (src/mm/pmm.c) and its in-kernel tests (pmm_ktest.c).
 */
#ifndef PAGODA_MM_PMM_PRIV_H
#define PAGODA_MM_PMM_PRIV_H

#include <pagoda/pmm_core.h>

/* Map a frame through the current frame-access hooks to touch its contents;
 * NULL when they cannot reach it (above 4 GiB before the VMM). Release with
 * pmm_frame_unmap. */
void *pmm_frame_map(paddr_t pa);
void pmm_frame_unmap(void *va);
/* True while the default hooks (the boot identity map) are in place. */
bool pmm_frame_access_is_early(void);
/* The kernel's core instance, for tests and diagnostics. */
struct pmm_core *pmm_core_instance(void);
/* The kernel's frame caches and global lock, for tests and diagnostics. */
struct pmm_pcp_pool *pmm_pcp_instance(void);

#endif
