/*
 * What the VMM's in-kernel tests share (`test=vmm_`: vmm_ktest.c,
 * vmm_space_ktest.c, vmm_harden_ktest.c). Each test leaves the PMM free
 * count exactly where it found it, and checks that it did.
 */
#ifndef PAGODA_VMM_KTEST_H
#define PAGODA_VMM_KTEST_H

#include <pagoda/types.h>

#include "vmm_internal.h"

/* Scratch addresses in the kernel space's user half, which nothing else
 * uses, each in its own PML4 slot so that every test starts with no tables:
 * n is 0..7, one per test that needs one. */
#define VMM_KT_SCRATCH(n) pg_make(100 + (n), 0, 0, 0, 0)

/* The PMM's free count in pages, for the tests' exact before/after checks. */
uint64_t vmm_kt_free_frames(void);

/* A fresh zeroed frame whose first word is `pattern`; 0 when the PMM is out
 * of frames. The caller gives it back with pmm_free(pa, 1). */
paddr_t vmm_kt_frame_with(uint64_t pattern);

#endif
