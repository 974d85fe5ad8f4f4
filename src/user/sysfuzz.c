/*
 * sysfuzz: every system call with hostile arguments (NULL, kernel and
 * non-canonical pointers, the guard gap, absurd lengths, random numbers).
 * Each must come back with an error code, never fault the kernel; the
 * program checks a few exact answers and that it still works afterwards.
 */
#include "ulib.h"

#define PROG "sysfuzz"

static unsigned long seed = 0x9e3779b97f4a7c15ul;

static unsigned long rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static const unsigned long bad[] = {
    0,                    /* NULL */
    8,                    /* page 0 */
    0xffffffff80100000ul, /* the kernel image */
    0xffff800000000000ul, /* the PMM bitmap window */
    0xffffff7fbfdfe000ul, /* the recursive window */
    0x0000800000000000ul, /* just past the user half */
    0x8000000000000000ul, /* non-canonical */
    0x7fffffeb0000ul,     /* the guard gap below the stack */
    0xfffffffffffff000ul, /* wraps with any length */
};
#define NBAD (sizeof(bad) / sizeof(bad[0]))

int main(int argc, char **argv)
{
    /* Exact answers first. */
    for (unsigned i = 0; i < NBAD; i++) {
        CHECK(write(1, (void *)bad[i], 16) == -EFAULT);
        CHECK(memstat((struct sys_memstat *)bad[i]) == -EFAULT);
        CHECK(wait((int *)bad[i]) == -EFAULT || (bad[i] == 0 && wait(0) == -ECHILD));
    }
    CHECK(write(1, "", 0) == 0);
    CHECK(write(7, "x", 1) == -EBADF);
    CHECK(write(1, (void *)0x400000, 1ul << 40) == -EINVAL);
    CHECK(mmap_anon(4096, PROT_READ | PROT_WRITE | PROT_EXEC, 0) == -EINVAL);
    CHECK(syscall5(SYS_MMAP, 0, 4096, PROT_READ, 0, 0) == -EINVAL); /* no MAP_ANON */
    CHECK(mmap_anon(0, PROT_READ, 0) == -EINVAL);
    CHECK(munmap((void *)0x400000, 4096) == -EINVAL); /* code is not mmap'ed */
    CHECK(munmap((void *)0x1001, 4096) == -EINVAL);
    CHECK(brk((void *)0x1000) == -ENOMEM);
    CHECK(syscall5(SYS_COUNT, 0, 0, 0, 0, 0) == -ENOSYS);
    CHECK(syscall5(-1, 0, 0, 0, 0, 0) == -ENOSYS);

    /* Then random ones: whatever they return, we must come back. */
    static const int calls[] = {SYS_WRITE,  SYS_BRK,   SYS_MMAP,    SYS_MUNMAP,   SYS_WAIT,
                                SYS_GETPID, SYS_YIELD, SYS_MEMSTAT, SYS_COUNT + 5};
    long brk0 = brk(0);
    unsigned long n = 0;
    for (int i = 0; i < 3000; i++) {
        int nr = calls[rnd() % (sizeof(calls) / sizeof(calls[0]))];
        unsigned long a[5];
        for (int k = 0; k < 5; k++) {
            unsigned long r = rnd();
            a[k] = r % 3 == 0 ? bad[r / 3 % NBAD] : r % 3 == 1 ? r >> (r % 64) : r % 8192;
        }
        if (nr == SYS_WRITE)
            a[0] = 1 + rnd() % 4; /* fds 1, 2 and bad ones; bad pointers only: */
        if (nr == SYS_WRITE && a[1] < 0x800000000000ul && a[1] >= 0x1000)
            a[1] = bad[rnd() % NBAD];
        if (nr == SYS_BRK && rnd() % 2)
            a[0] = brk0 + rnd() % (1ul << 20);
        syscall5(nr, a[0], a[1], a[2], a[3], a[4]);
        n++;
    }
    /* Still alive, still working. */
    struct sys_memstat m;
    CHECK(memstat(&m) == 0);
    CHECK(brk((void *)brk0) == brk0);
    printf("sysfuzz: %lu hostile calls, all refused or harmless; %lu frames held\n", n, m.frames);
    return 0;
}
