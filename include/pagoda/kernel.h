/* Kernel-wide state set from the command line at boot. */
#ifndef PAGODA_KERNEL_H
#define PAGODA_KERNEL_H

#include <pagoda/types.h>

/* When set, panic() leaves the emulator with the failure status instead of
 * halting (the `test` and `fault=` modes). */
extern bool kernel_exit_on_panic;

/* True while panic() runs (or has halted): the one fatal path has begun. */
bool kernel_panicking(void);

/* The next panic() ends the machine even inside a monitor recovery point:
 * for a report on behalf of code that cannot go on (the stall watchdog's,
 * whose point would belong to the very code that stalled). */
void panic_forbid_resume(void);

/* The value of `key` or `key=value` on the command line: NULL when absent,
 * "" for a bare key. `buf` receives the value. */
const char *cmdline_get(const char *key, char *buf, size_t size);
/* Remember the command line (a copy is taken). */
void cmdline_set(const char *cmdline);

#endif
