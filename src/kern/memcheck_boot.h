/* Boot-time set-up of the optional memory checks (memcheck_boot.c). */
#ifndef PAGODA_KERN_MEMCHECK_BOOT_H
#define PAGODA_KERN_MEMCHECK_BOOT_H

#include <pagoda/types.h>

/* Start the sampled guard pages (`heap_sample=N`, default
 * KFENCE_SAMPLE_DEFAULT, 0 off) and freed-frame checking (`pmm_check=1`).
 * Call once, after vmm_init. */
void memcheck_boot_init(void);

/* The kernel's kfence page source (tests restart kfence over it). */
struct kfence_source *kfence_kernel_source(void);

#endif
