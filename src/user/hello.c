/* hello: the smallest program. Prints one line and exits 0. */
#include "ulib.h"

int main(int argc, char **argv)
{
    printf("hello from user space\n");
    return 0;
}
