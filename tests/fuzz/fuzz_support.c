/*
 * What the portable cores need from the kernel, for the libFuzzer targets:
 * printk prints nothing (set FUZZ_VERBOSE=1 to see it on stderr), and panic
 * aborts, which libFuzzer reports as a crash with the input that caused it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <pagoda/printk.h>

int printk(const char *fmt, ...)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
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
    fprintf(stderr, "panic at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}
