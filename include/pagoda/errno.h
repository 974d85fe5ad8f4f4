/*
 * Error codes. Recoverable failures return one of these, negated, or NULL.
 * Bugs (a double free, a corrupted header) panic in the kernel; the portable
 * cores report them as these codes so that host tests can see them.
 */
#ifndef PAGODA_ERRNO_H
#define PAGODA_ERRNO_H

#define E_OK        0
#define E_NOMEM     1  /* out of memory (frames, heap or address space) */
#define E_INVAL     2  /* an argument that can never be valid */
#define E_EXIST     3  /* already mapped / already present */
#define E_NOENT     4  /* not mapped / not found */
#define E_ALIGN     5  /* an address that is not aligned as required */
#define E_RANGE     6  /* outside the managed range */
#define E_DOUBLE    7  /* a double free */
#define E_BADFREE   8  /* a free of something never handed out */
#define E_CORRUPT   9  /* a canary, header or poison check failed */
#define E_OVERFLOW  10 /* fixed capacity exceeded */

/* A short name for an error code (positive or negative), for log lines. */
const char *err_name(int err);

#endif
