/* Host tests of src/lib: the printk formatter, CRC-32, the command line. */
#include <stdio.h>
#include <string.h>

#include <pagoda/crc32.h>
#include <pagoda/errno.h>
#include <pagoda/kernel.h>
#include <pagoda/mb2.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "harness.h"

/* Compare our formatter with the C library's on the same format. */
#define SAME_AS_LIBC(...)                                                      \
    do {                                                                       \
        char ours_[128], libc_[128];                                           \
        int no_ = ksnprintf(ours_, sizeof(ours_), __VA_ARGS__);                \
        int nl_ = snprintf(libc_, sizeof(libc_), __VA_ARGS__);                 \
        if (no_ != nl_ || strcmp(ours_, libc_) != 0) {                         \
            htest_fail(__FILE__, __LINE__, "format %s: ours '%s' (%d), libc '%s' (%d)", \
                       #__VA_ARGS__, ours_, no_, libc_, nl_);                  \
            return;                                                            \
        }                                                                      \
    } while (0)

HTEST(format_integers)
{
    SAME_AS_LIBC("%d %i %u", -42, 17, 3000000000u);
    SAME_AS_LIBC("%x %X %o", 0xdeadbeefu, 0xabcu, 8u);
    SAME_AS_LIBC("%ld %lu %lx", -1234567890123L, 18446744073709551615UL, 0xfeedUL);
    SAME_AS_LIBC("%lld %llu %llx", -9223372036854775807LL - 1, 0ULL, 0xffffffff80000000ULL);
    SAME_AS_LIBC("%zu %zx", (size_t)123456789, (size_t)0x1000);
    SAME_AS_LIBC("%hhu %hd", 300, 70000);
}

HTEST(format_width_and_padding)
{
    SAME_AS_LIBC("[%5d] [%-5d] [%05d] [%016llx]", 42, 42, -42, 0x1234ULL);
    SAME_AS_LIBC("[%08x] [%-8x] [%#x] [%#X]", 0xbeefu, 0xbeefu, 0x10u, 0x10u);
    SAME_AS_LIBC("[%+d] [% d] [%.3d] [%*d] [%-*d]", 5, 5, 7, 6, 1, 6, 1);
    SAME_AS_LIBC("[%10s] [%-10s] [%.2s] [%c] [%3c]", "abc", "abc", "abc", 'x', 'y');
    SAME_AS_LIBC("100%% %s", "done");
}

/* '+' and ' ' are for signed conversions only; '#' with %o prefixes a 0;
 * a negative '*' precision counts as none. */
HTEST(format_flags_as_c_defines_them)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat" /* the flags are meaningless here, on purpose */
    SAME_AS_LIBC("[%+u] [% u] [%+x] [% X] [%+lu]", 5u, 7u, 0xabu, 0xcdu, 9UL);
#pragma GCC diagnostic pop
    SAME_AS_LIBC("[%#o] [%#o] [%#.3o] [%#5o]", 8u, 0u, 8u, 8u);
    SAME_AS_LIBC("[%.*d] [%.*s]", -1, 42, -1, "abc");
}

HTEST(format_pointer_and_null)
{
    char buf[64];
    ksnprintf(buf, sizeof(buf), "%p", (void *)0xffffffff80100000ULL);
    CHECK(strcmp(buf, "0xffffffff80100000") == 0);
    const char *volatile nothing = NULL; /* hide the NULL from -Wformat */
    ksnprintf(buf, sizeof(buf), "%s", nothing);
    CHECK(strcmp(buf, "(null)") == 0);
}

HTEST(format_truncates_and_terminates)
{
    char buf[8];
    memset(buf, 'X', sizeof(buf));
    int n = ksnprintf(buf, sizeof(buf), "%s", "0123456789");
    CHECK_EQ(n, 10);
    CHECK(strcmp(buf, "0123456") == 0);
    CHECK_EQ(ksnprintf(buf, 0, "abc"), 3);
    CHECK_EQ(buf[0], '0'); /* size 0 writes nothing */
}

HTEST(crc32_matches_zlib)
{
    CHECK_EQ(crc32("123456789", 9), 0xCBF43926u);
    CHECK_EQ(crc32("", 0), 0u);
    CHECK_EQ(crc32("The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
    /* Incremental equals one-shot. */
    uint32_t c = crc32_update(0, "1234", 4);
    CHECK_EQ(crc32_update(c, "56789", 5), 0xCBF43926u);
}

HTEST(cmdline_lookup)
{
    char v[16];
    cmdline_set("test=pmm_ quiet fault=null  x=");
    CHECK(cmdline_get("test", v, sizeof(v)) != NULL && strcmp(v, "pmm_") == 0);
    CHECK(cmdline_get("quiet", v, sizeof(v)) != NULL && strcmp(v, "") == 0);
    CHECK(cmdline_get("fault", v, sizeof(v)) != NULL && strcmp(v, "null") == 0);
    CHECK(cmdline_get("x", v, sizeof(v)) != NULL && strcmp(v, "") == 0);
    CHECK(cmdline_get("tes", v, sizeof(v)) == NULL); /* no prefix matches */
    CHECK(cmdline_get("missing", v, sizeof(v)) == NULL);
    cmdline_set("test=averyveryverylongprefix");
    CHECK(cmdline_get("test", v, 5) != NULL && strcmp(v, "aver") == 0);
}

/* The kernel keeps the whole command line the boot-info adapter keeps
 * (MB2_CMDLINE_MAX bytes), so a word near its end is still found. */
HTEST(cmdline_as_long_as_the_adapter_keeps)
{
    static char line[MB2_CMDLINE_MAX];
    char v[16];
    memset(line, 'a', sizeof(line));
    memcpy(line, "pad=", 4);
    memcpy(line + sizeof(line) - 12, " test=heap_", 11);
    line[sizeof(line) - 1] = '\0';
    cmdline_set(line);
    CHECK(cmdline_get("test", v, sizeof(v)) != NULL && strcmp(v, "heap_") == 0);
}

HTEST(strlcpy_and_errnames)
{
    char b[4];
    CHECK_EQ(kstrlcpy(b, "hello", sizeof(b)), 5);
    CHECK(strcmp(b, "hel") == 0);
    CHECK(strcmp(err_name(-E_DOUBLE), "double free") == 0);
    CHECK(strcmp(err_name(999), "unknown error") == 0);
}
