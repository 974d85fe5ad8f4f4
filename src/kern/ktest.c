/*
 * The in-kernel test runner. Tests sit in the .ktests section (KTEST in
 * <pagoda/ktest.h>); we run those whose names start with a prefix, each
 * reporting PASS or FAIL with the first failed check, then the summary line
 * "N passed, N failed" that tests/boot greps for.
 *
 * Each test runs under the stall watchdog: one that has not returned in
 * time ends the boot with a panic that names it and shows where every CPU
 * was, instead of a silent hang that only the harness's timeout ends. The
 * bound is 100 times the slowest test, so only a hang reaches it.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/watchdog.h>

extern const struct ktest __ktests_start[], __ktests_end[];

static bool failed;
static char reason[256];

void ktest_fail(const char *file, int line, const char *fmt, ...)
{
    if (failed)
        return;
    failed = true;
    int n = ksnprintf(reason, sizeof(reason), "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(reason + n, sizeof(reason) - (size_t)n, fmt, ap);
    va_end(ap);
}

bool ktest_failed(void) { return failed; }

/* The watchdog's bound for one test, in guest seconds. Under QEMU and on
 * hardware the guest clock is real time, and the slowest test (the heap's
 * random mix) takes about a second. Bochs's clock counts instructions at
 * its `ips` setting, about ten times faster than it really runs them, and
 * there the same test takes some 290 guest seconds. */
static unsigned watchdog_secs(void)
{
    const char *emu = arch_emulator_name();
    return emu && strcmp(emu, "Bochs") == 0 ? 1500 : 120;
}

const struct ktest *ktest_first(void) { return __ktests_start; }
const struct ktest *ktest_last(void) { return __ktests_end; }

bool ktest_run_one(const struct ktest *t, char *why, size_t size)
{
    failed = false;
    reason[0] = '\0';
    watchdog_arm(t->name, watchdog_secs()); /* the pause's wait too */
    kheap_idle_pause(); /* tests count frames exactly: no release behind them */
    t->fn();
    kheap_idle_resume();
    watchdog_disarm();
    if (failed && why)
        kstrlcpy(why, reason, size);
    return !failed;
}

int ktest_run(const char *prefix)
{
    int passed = 0, nfailed = 0;
    size_t plen = strlen(prefix);

    for (const struct ktest *t = __ktests_start; t < __ktests_end; t++) {
        if (strncmp(t->name, prefix, plen) != 0)
            continue;
        if (!ktest_run_one(t, NULL, 0)) {
            printk("FAIL %s: %s\n", t->name, reason);
            nfailed++;
        } else {
            printk("PASS %s\n", t->name);
            passed++;
        }
    }
    printk("%d passed, %d failed\n", passed, nfailed);
    return nfailed;
}

bool ktest_kfree_panics(void *p)
{
    struct arch_recover point;
    int how = arch_recover_arm(&point);
    if (how == 0)
        kfree(p);
    arch_recover_disarm(&point);
    return how == 2;
}
