/* In-kernel benchmarks (src/kern/kbench.c). */
#ifndef PAGODA_KBENCH_H
#define PAGODA_KBENCH_H

/* Time the PMM, heap and slab operations that are up with fenced rdtsc and
 * print "kbench: NAME N cycles/op" lines (marked as emulated under QEMU or
 * Bochs). Allocates and frees; leaves the counters where it found them. */
void kbench_run(void);

#endif
