/* crash-stack: recurse without end. The stack grows on demand down to its
 * limit, then touches the guard gap below it, and the kernel kills it. */
#include "ulib.h"

static int deeper(int n)
{
    volatile char frame[1024];
    frame[0] = (char)n;
    return deeper(n + 1) + frame[0];
}

int main(int argc, char **argv)
{
    printf("crash-stack: recursing until the stack runs out\n");
    return deeper(0);
}
