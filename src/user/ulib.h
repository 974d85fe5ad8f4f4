/*
 * The runtime of Pagoda's user programs: no libc, just the system calls of
 * <pagoda/syscall.h> as functions, a few string helpers, and a printf for
 * %s %c %d %u %x with an optional l. ulib.c also holds _start, which calls
 * main(argc, argv) and passes its result to exit.
 */
#ifndef PAGODA_ULIB_H
#define PAGODA_ULIB_H

#include <pagoda/syscall.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

long syscall5(long nr, long a0, long a1, long a2, long a3, long a4);

static inline __attribute__((noreturn)) void exit(int status)
{
    syscall5(SYS_EXIT, status, 0, 0, 0, 0);
    __builtin_unreachable();
}
static inline long write(int fd, const void *buf, size_t n)
{
    return syscall5(SYS_WRITE, fd, (long)buf, (long)n, 0, 0);
}
static inline long brk(void *addr)
{
    return syscall5(SYS_BRK, (long)addr, 0, 0, 0, 0);
}
static inline long mmap_anon(size_t len, int prot, int flags)
{
    return syscall5(SYS_MMAP, 0, (long)len, prot, flags | MAP_ANON, 0);
}
static inline long munmap(void *addr, size_t len)
{
    return syscall5(SYS_MUNMAP, (long)addr, (long)len, 0, 0, 0);
}
static inline long fork(void)
{
    return syscall5(SYS_FORK, 0, 0, 0, 0, 0);
}
static inline long wait(int *status)
{
    return syscall5(SYS_WAIT, (long)status, 0, 0, 0, 0);
}
static inline long getpid(void)
{
    return syscall5(SYS_GETPID, 0, 0, 0, 0, 0);
}
static inline long yield(void)
{
    return syscall5(SYS_YIELD, 0, 0, 0, 0, 0);
}
static inline long memstat(struct sys_memstat *m)
{
    return syscall5(SYS_MEMSTAT, (long)m, 0, 0, 0, 0);
}
static inline long stop(void)
{
    return syscall5(SYS_STOP, 0, 0, 0, 0, 0);
}

/* Grow the heap by n bytes (brk); the old end, or NULL when refused. */
void *sbrk(long n);

size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report a failed check and exit 1. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            printf("%s: FAILED check %s (line %d)\n", PROG, #c, __LINE__);                         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif
