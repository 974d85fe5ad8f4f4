/* spin: loop forever without a system call. Only the timer can take the CPU
 * away from it (the preemption test runs it beside another program). */
#include "ulib.h"

int main(int argc, char **argv)
{
    for (volatile unsigned long i = 0;; i++)
        ;
}
