/*
 * In-kernel tests. KTEST(name) registers a test in the .ktests linker
 * section; the command line `test` or `test=PREFIX` runs them (src/kern/ktest.c).
 * Name tests with their module prefix: pmm_, vmm_, heap_, slab_, mb2_, ...
 *
 *     KTEST(pmm_alloc_free) {
 *         void *p = pmm_alloc(1);
 *         KT_ASSERT(p != NULL);
 *         ...
 *     }
 *
 * A failed KT_ check records the reason and returns from the test.
 */
#ifndef PAGODA_KTEST_H
#define PAGODA_KTEST_H

#include <pagoda/types.h>

struct ktest {
    const char *name;
    void (*fn)(void);
    unsigned flags; /* KTEST_* below */
};

/* Flags for KTEST_FLAGS, read by the soak (src/kern/soak.c), which runs
 * every smp_ test over and over on a running system:
 *   KTEST_ONCE       not repeatable: it checks the state of a fresh boot
 *                    (the soak leaves it out);
 *   KTEST_QUIET      it needs a quiet system: the process table to itself,
 *                    or no other CPU taking locks meanwhile (the soak stops
 *                    its background processes around it). */
#define KTEST_ONCE 1u
#define KTEST_QUIET 2u

#define KTEST_FLAGS(tname, tflags)                                             \
    static void ktest_fn_##tname(void);                                        \
    static const struct ktest ktest_desc_##tname                               \
        __attribute__((used, section(".ktests"), aligned(8))) = {              \
            #tname, ktest_fn_##tname, (tflags)};                               \
    static void ktest_fn_##tname(void)

#define KTEST(tname) KTEST_FLAGS(tname, 0)

/* kfree(p), which must end in a panic (recovered, as the monitor's are):
 * true if it did. For the tests of the heap's and kfence's reports. */
bool ktest_kfree_panics(void *p);

/* Record a failure for the running test (first one wins). */
void ktest_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* True once the running test has failed. */
bool ktest_failed(void);

#define KT_ASSERT(c)                                                           \
    do {                                                                       \
        if (!(c)) {                                                            \
            ktest_fail(__FILE__, __LINE__, "%s", #c);                          \
            return;                                                            \
        }                                                                      \
    } while (0)

#define KT_ASSERT_EQ(a, b)                                                     \
    do {                                                                       \
        unsigned long long ka_ = (unsigned long long)(a);                      \
        unsigned long long kb_ = (unsigned long long)(b);                      \
        if (ka_ != kb_) {                                                      \
            ktest_fail(__FILE__, __LINE__, "%s == %s (0x%llx != 0x%llx)", #a,  \
                       #b, ka_, kb_);                                          \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Run the tests whose names start with prefix ("" runs all).
 * Prints PASS/FAIL lines and "N passed, N failed"; returns the failures. */
int ktest_run(const char *prefix);
/* Every registered test, [ktest_first(), ktest_last()), in link order. */
const struct ktest *ktest_first(void);
const struct ktest *ktest_last(void);
/* Run one test without a PASS/FAIL line: true if it passed; otherwise the
 * reason goes to why. */
bool ktest_run_one(const struct ktest *t, char *why, size_t size);

#endif
