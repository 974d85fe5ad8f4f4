/*
 * Runner for the host unit tests: runs every registered HTEST (or those whose
 * name starts with argv[1]), prints PASS/FAIL lines and "N passed, N failed",
 * and exits non-zero when anything failed.
 */
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <pagoda/printk.h>

static struct htest *tests;
static struct htest *current;
static char fail_reason[512];
static bool failed;
static jmp_buf test_jmp;

_Thread_local jmp_buf *htest_panic_jmp; /* per thread: a test thread may expect its own panic */
_Thread_local char htest_panic_msg[512];

void htest_register(struct htest *t)
{
    /* Constructors run in file order; keep that order for readable output. */
    struct htest **pp = &tests;
    while (*pp)
        pp = &(*pp)->next;
    *pp = t;
}

void htest_fail(const char *file, int line, const char *fmt, ...)
{
    if (failed)
        return;
    failed = true;
    int n = snprintf(fail_reason, sizeof(fail_reason), "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail_reason + n, sizeof(fail_reason) - (size_t)n, fmt, ap);
    va_end(ap);
}

bool htest_failed(void) { return failed; }

int printk(const char *fmt, ...)
{
    if (getenv("HTEST_QUIET"))
        return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(htest_panic_msg, sizeof(htest_panic_msg), fmt, ap);
    va_end(ap);
    if (htest_panic_jmp)
        longjmp(*htest_panic_jmp, 1);
    htest_fail(file, line, "unexpected panic: %s", htest_panic_msg);
    /* Abandon the test; the runner goes on with the next one. */
    longjmp(test_jmp, 1);
}

int main(int argc, char **argv)
{
    const char *prefix = argc > 1 ? argv[1] : "";
    static int passed, nfailed; /* static: they live across longjmp */

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (current = tests; current; current = current->next) {
        if (strncmp(current->name, prefix, strlen(prefix)) != 0)
            continue;
        failed = false;
        htest_panic_jmp = NULL;
        if (setjmp(test_jmp) == 0)
            current->fn();
        if (failed) {
            printf("FAIL %s: %s\n", current->name, fail_reason);
            nfailed++;
        } else {
            printf("PASS %s\n", current->name);
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, nfailed);
    return nfailed ? 1 : 0;
}
