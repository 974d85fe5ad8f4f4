/*
 * What Pagoda's portable cores expect from their host: printk (to stderr,
 * silenced unless BENCH_VERBOSE is set, so the result lines stay clean) and
 * the one fatal path, which aborts the benchmark loudly.
 */
#include <pagoda/printk.h>

#include <stdio.h>
#include <stdlib.h>

int printk(const char *fmt, ...)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("BENCH_VERBOSE") != NULL;
    if (!verbose)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(stderr, fmt, ap);
    va_end(ap);
    return n;
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: panic at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}
