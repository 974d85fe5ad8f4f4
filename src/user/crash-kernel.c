/* crash-kernel: read kernel memory (the kernel image). The kernel kills it. */
#include "ulib.h"

int main(int argc, char **argv)
{
    printf("crash-kernel: reading the kernel image at 0xffffffff80100000\n");
    return *(volatile int *)0xffffffff80100000ul;
}
