/* crash-exec [heap|stack]: jump into data. Both are no-execute: the kernel
 * kills it. */
#include "ulib.h"

int main(int argc, char **argv)
{
    volatile unsigned char code[16] = {0xc3}; /* ret */
    unsigned char *target = (unsigned char *)code;
    if (argc > 1 && strcmp(argv[1], "heap") == 0) {
        target = sbrk(4096);
        target[0] = 0xc3;
    }
    printf("crash-exec: calling %s at %p\n", target == code ? "the stack" : "the heap",
           (void *)target);
    ((void (*)(void))target)();
    return 0;
}
