/*
 * The few C library string functions the kernel uses. The signatures are
 * C's, so that the host builds of the portable cores can use libc's.
 */
#ifndef PAGODA_STRING_H
#define PAGODA_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

/* Copy at most size-1 bytes and always terminate (when size > 0).
 * Returns strlen(src), so truncation shows as a result >= size. */
size_t kstrlcpy(char *dst, const char *src, size_t size);

#endif
