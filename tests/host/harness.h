/*
 * A small unit-test harness for the portable cores, built for the host under
 * ASan and UBSan. Each tests/host/test_*.c is its own binary.
 *
 *     HTEST(pmm_double_free) {
 *         ...
 *         CHECK(pmm_free_checked(p, 1) == -E_DOUBLE);
 *     }
 *
 * The kernel's panic() is provided here: outside EXPECT_PANIC it fails the
 * running test; inside, it jumps back and EXPECT_PANIC yields true.
 */
#ifndef PAGODA_HOST_HARNESS_H
#define PAGODA_HOST_HARNESS_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>

struct htest {
    const char *name;
    void (*fn)(void);
    struct htest *next;
};

void htest_register(struct htest *t);
void htest_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool htest_failed(void);

#define HTEST(tname)                                                           \
    static void htest_fn_##tname(void);                                        \
    static struct htest htest_desc_##tname = {#tname, htest_fn_##tname, 0};    \
    __attribute__((constructor)) static void htest_reg_##tname(void)           \
    {                                                                          \
        htest_register(&htest_desc_##tname);                                  \
    }                                                                          \
    static void htest_fn_##tname(void)

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            htest_fail(__FILE__, __LINE__, "%s", #c);                          \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        unsigned long long ha_ = (unsigned long long)(a);                      \
        unsigned long long hb_ = (unsigned long long)(b);                      \
        if (ha_ != hb_) {                                                      \
            htest_fail(__FILE__, __LINE__, "%s == %s (0x%llx != 0x%llx)", #a,  \
                       #b, ha_, hb_);                                          \
            return;                                                            \
        }                                                                      \
    } while (0)

/* panic() support: EXPECT_PANIC(stmt) runs stmt and is true iff it panicked.
 * The last panic message is kept in htest_panic_msg. */
extern _Thread_local jmp_buf *htest_panic_jmp;
extern _Thread_local char htest_panic_msg[512];
#define EXPECT_PANIC(stmt)                                                     \
    ({                                                                         \
        jmp_buf jb_;                                                           \
        jmp_buf *saved_ = htest_panic_jmp;                                     \
        bool panicked_ = false;                                                \
        htest_panic_jmp = &jb_;                                                \
        if (setjmp(jb_) == 0) {                                                \
            stmt;                                                              \
        } else {                                                               \
            panicked_ = true;                                                  \
        }                                                                      \
        htest_panic_jmp = saved_;                                              \
        panicked_;                                                             \
    })

#endif
