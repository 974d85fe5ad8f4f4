/* hog: map and touch memory, 4 MiB at a time, until the kernel refuses
 * (ENOMEM) or kills it for lack of memory. */
#include "ulib.h"

#define CHUNK (4L << 20)

int main(int argc, char **argv)
{
    long total = 0;
    for (;;) {
        long p = mmap_anon(CHUNK, PROT_READ | PROT_WRITE, 0);
        if (p < 0) {
            printf("hog: mmap refused (%s) after %ld MiB\n", p == -ENOMEM ? "ENOMEM" : "error",
                   total >> 20);
            return 0;
        }
        for (long off = 0; off < CHUNK; off += 4096)
            ((volatile char *)p)[off] = 1;
        total += CHUNK;
        printf("hog: %ld MiB touched\n", total >> 20);
    }
}
