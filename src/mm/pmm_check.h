/* The PMM wrapper's hooks into freed-frame checking (pmm.c -> pmm_check.c). */
#ifndef PAGODA_MM_PMM_CHECK_INTERNAL_H
#define PAGODA_MM_PMM_CHECK_INTERNAL_H

#include <pagoda/pmm_check.h>

extern bool pmm_check_on;
/* Frames [pa, pa + n pages) were just freed: fill them. */
void pmm_check_freed(paddr_t pa, size_t n);
/* Frames [pa, pa + n pages) are being handed out: verify those filled, and
 * panic naming the frame on a difference. pa 0 is a failed allocation. */
void pmm_check_handout(paddr_t pa, size_t n);

#endif
