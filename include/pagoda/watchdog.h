/*
 * The stall watchdog: a bound on how long one piece of work may run, kept
 * on every CPU's timer tick (src/kern/watchdog.c). The in-kernel tests arm
 * it around each test, so a test that hangs ends the boot with a report of
 * where every CPU was, instead of running until the harness gives up.
 */
#ifndef PAGODA_WATCHDOG_H
#define PAGODA_WATCHDOG_H

#include <pagoda/types.h>

/* Start the bound: if `what` is still armed `seconds` from now, the next
 * timer tick on any CPU panics naming it. One watch at a time; re-arming
 * replaces it. Call from one CPU (the first call calibrates the clock). */
void watchdog_arm(const char *what, unsigned seconds);

/* The work ended in time: no report. */
void watchdog_disarm(void);

/* From each CPU's timer interrupt: the check, one load when disarmed. */
void watchdog_tick(void);

#endif
