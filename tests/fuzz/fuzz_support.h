/*
 * Helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c).
 */
#ifndef PAGODA_FUZZ_SUPPORT_H
#define PAGODA_FUZZ_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>

/* A property every result must keep: abort (a libFuzzer crash, with the
 * input saved) naming the failed condition. */
#define INVARIANT(c)                                                                               \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__);                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
