/* Host tests of the monitor's parser (src/lib/parse.c). */
#include <pagoda/errno.h>
#include <pagoda/parse.h>
#include <string.h>

#include "harness.h"

HTEST(parse_decimal_and_hex)
{
    uint64_t v = 7;
    CHECK_EQ(parse_u64("0", &v), 0);
    CHECK_EQ(v, 0);
    CHECK_EQ(parse_u64("4096", &v), 0);
    CHECK_EQ(v, 4096);
    CHECK_EQ(parse_u64("0x1000", &v), 0);
    CHECK_EQ(v, 0x1000);
    CHECK_EQ(parse_u64("0XfFfF", &v), 0);
    CHECK_EQ(v, 0xffff);
    CHECK_EQ(parse_u64("0xffffffff80000000", &v), 0);
    CHECK_EQ(v, 0xffffffff80000000ULL);
    CHECK_EQ(parse_u64("007", &v), 0);
    CHECK_EQ(v, 7);
}

HTEST(parse_limits)
{
    uint64_t v = 0;
    CHECK_EQ(parse_u64("18446744073709551615", &v), 0);
    CHECK_EQ(v, UINT64_MAX);
    CHECK_EQ(parse_u64("0xffffffffffffffff", &v), 0);
    CHECK_EQ(v, UINT64_MAX);
    v = 5;
    CHECK_EQ(parse_u64("18446744073709551616", &v), -E_OVERFLOW);
    CHECK_EQ(parse_u64("0x10000000000000000", &v), -E_OVERFLOW);
    CHECK_EQ(parse_u64("99999999999999999999999", &v), -E_OVERFLOW);
    CHECK_EQ(parse_u64("99999999999999999999999x", &v), -E_INVAL); /* malformed wins */
    CHECK_EQ(v, 5);                                                /* untouched on error */
}

HTEST(parse_rejects_garbage)
{
    uint64_t v = 5;
    const char *bad[] = {"", "0x", "x10", "-1", "+1", "12abc", "0x12g", "1 2", "abc", "0b101"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(parse_u64(bad[i], &v), -E_INVAL);
    CHECK_EQ(v, 5);
}

HTEST(parse_split_words)
{
    char line[] = "  map\t0x1000   0x2000 rw  ";
    char *argv[4];
    CHECK_EQ(parse_split(line, argv, 4), 4);
    CHECK(strcmp(argv[0], "map") == 0);
    CHECK(strcmp(argv[1], "0x1000") == 0);
    CHECK(strcmp(argv[2], "0x2000") == 0);
    CHECK(strcmp(argv[3], "rw") == 0);

    char empty[] = "   \t ";
    CHECK_EQ(parse_split(empty, argv, 4), 0);

    char many[] = "a b c d e";
    CHECK_EQ(parse_split(many, argv, 4), -E_OVERFLOW);
}
