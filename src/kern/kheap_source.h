/* The kernel's heap setup (src/kern/kheap_source.c). */
#ifndef PAGODA_KERN_KHEAP_SOURCE_H
#define PAGODA_KERN_KHEAP_SOURCE_H

#include <pagoda/types.h>

/* Start the heap over KHEAP_BASE..KHEAP_LIMIT (PMM frames mapped by the
 * VMM). Call once, after vmm_init. */
void kheap_boot_init(void);
/* Print "This is a string." built by krealloc growth. */
void kheap_demo_string(void);
/* Tests: refuse to grow the heap past `bytes` mapped (0: no cap). */
void kheap_source_limit(size_t bytes);

#endif
