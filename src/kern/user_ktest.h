/*
 * What the in-kernel tests of user mode share (`test=user_`:
 * user_elf_ktest.c, user_ktest.c, user_prog_ktest.c). Every test checks
 * that the PMM's free count comes back exactly.
 */
#ifndef PAGODA_KERN_USER_KTEST_H
#define PAGODA_KERN_USER_KTEST_H

#include <pagoda/types.h>

/* True when needle occurs in the NUL-terminated hay (always for ""): how
 * the tests check that an error or a kill report says what it should. */
bool user_kt_contains(const char *hay, const char *needle);

#endif
