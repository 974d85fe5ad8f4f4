/* Fault recovery for the monitor (recover.c, safe.asm). */
#ifndef PAGODA_RECOVER_H
#define PAGODA_RECOVER_H

#include "cpu.h"

/* Called by trap_dispatch for a trap no handler claimed: when it hit a safe
 * access or an armed recovery point, rewrite the frame to resume there and
 * return true. */
bool trap_recover(struct trap_frame *f);

#endif
