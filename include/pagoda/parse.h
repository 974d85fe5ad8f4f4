/*
 * Parsing monitor input (src/lib/parse.c): words and numbers. Portable, so
 * the host tests and the fuzzer can hammer it.
 */
#ifndef PAGODA_PARSE_H
#define PAGODA_PARSE_H

#include <pagoda/types.h>

/* Split `line` in place at spaces and tabs into at most `max` words.
 * Returns the word count, or -E_OVERFLOW when there are more than `max`. */
int parse_split(char *line, char **argv, int max);

/* A whole word as an unsigned 64-bit number: hex with 0x/0X, else decimal.
 * 0 or -E_INVAL (empty, stray characters, a sign, "0x" alone) or
 * -E_OVERFLOW (does not fit in 64 bits); *out is only written on success. */
int parse_u64(const char *s, uint64_t *out);

#endif
