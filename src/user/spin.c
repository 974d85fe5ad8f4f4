/* spin: loop forever without a system call. Only the timer can take the CPU
 * away from it (the preemption test runs it beside another program).
 * `spin sys` loops on kernel work instead: each round maps four pages,
 * writes them (demand faults), unmaps them and asks for its pid, so that
 * its system calls and faults run wherever the scheduler puts it. */
#include "ulib.h"

#define PROG "spin"
#define PAGES 4

static void sys_loop(void)
{
    for (unsigned long round = 0;; round++) {
        long a = mmap_anon(PAGES * 4096L, PROT_READ | PROT_WRITE, 0);
        CHECK(a > 0);
        volatile char *p = (volatile char *)a;
        for (int i = 0; i < PAGES; i++)
            p[i * 4096L] = (char)round;
        for (int i = 0; i < PAGES; i++)
            CHECK(p[i * 4096L] == (char)round);
        CHECK(munmap((void *)a, PAGES * 4096L) == 0);
        CHECK(getpid() > 0);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "sys") == 0)
        sys_loop();
    for (volatile unsigned long i = 0;; i++)
        ;
}
