/* The stress soak (soak.c), started by `soak=SECONDS` on the command line. */
#ifndef PAGODA_KERN_SOAK_H
#define PAGODA_KERN_SOAK_H

#define SOAK_MAX_SECONDS 3600

/* Run every smp_ test round after round for `seconds` (1..SOAK_MAX_SECONDS)
 * of emulated time, with user processes on every CPU meanwhile, print
 * "soak: N rounds, T s, F failures" and leave the emulator (status 33 when
 * nothing failed). After smp_init. */
__attribute__((noreturn)) void soak_run_and_exit(unsigned seconds);

#endif
