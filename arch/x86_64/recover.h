/* Fault recovery for the monitor (recover.c, safe.asm). */
#ifndef PAGODA_RECOVER_H
#define PAGODA_RECOVER_H

#include "cpu.h"

/* Called by trap_dispatch before the handlers: a fault inside a safe access
 * resumes at its fixup (returns true). */
bool trap_recover_safe(struct trap_frame *f);
/* Called by trap_dispatch for a trap no handler claimed: with a recovery
 * point armed, report the trap, rewrite the frame to resume at the point and
 * return true. */
bool trap_recover(struct trap_frame *f);

#endif
