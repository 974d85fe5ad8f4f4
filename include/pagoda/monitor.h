/*
 * The kernel monitor: an interactive `pagoda>` shell on the serial line and
 * the VGA screen + PS/2 keyboard, for exploring the memory manager live.
 * Kernel-only (src/kern/monitor*.c).
 */
#ifndef PAGODA_MONITOR_H
#define PAGODA_MONITOR_H

#include <pagoda/stivale2.h>

/* Keep a copy of the boot memory map for `memmap`. Call before
 * pmm_reclaim_bootloader (the boot info may live in reclaimed frames).
 * NULL or a struct without a MEMMAP tag is fine: memmap says so. */
void monitor_save_bootinfo(struct stivale2_struct *info);

/* Enable interrupts and run the shell forever (until halt or reboot). */
__attribute__((noreturn)) void monitor_run(void);

#endif
