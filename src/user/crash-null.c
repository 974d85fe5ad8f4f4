/* crash-null: read through a NULL pointer. The kernel kills it. */
#include "ulib.h"

int main(int argc, char **argv)
{
    printf("crash-null: reading address 0\n");
    return *(volatile int *)0;
}
