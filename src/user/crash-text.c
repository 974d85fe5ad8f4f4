/* crash-text: write to its own code. The kernel kills it (W^X). */
#include "ulib.h"

int main(int argc, char **argv)
{
    printf("crash-text: writing to main at %p\n", (void *)main);
    *(volatile unsigned char *)(void *)main = 0xc3;
    return 0;
}
