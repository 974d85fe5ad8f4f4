/* The non-inline helpers of bench.h, linked into every bench executable. */
#include "bench.h"

#include <stdlib.h>
#include <sys/mman.h>

void *bench_array(size_t bytes)
{
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("bench: mmap");
        exit(2);
    }
    return p;
}

void bench_array_free(void *p, size_t bytes) { munmap(p, bytes ? bytes : 1); }

void bench_emit(const char *key, double value)
{
    printf("R %s %.6g\n", key, value);
    fflush(stdout);
}

double bench_scale(void)
{
    static double scale;
    if (scale == 0) {
        const char *s = getenv("BENCH_SCALE");
        scale = s ? atof(s) : 1.0;
        if (scale <= 0)
            scale = 1.0;
    }
    return scale;
}

long bench_iters(long n, long min)
{
    long v = (long)((double)n * bench_scale());
    return v < min ? min : v;
}
