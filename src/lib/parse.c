/*
 * Words and numbers for the kernel monitor. Every malformed input is an
 * error code rather than a guess: "12abc", "0x", "-1", "+5" and numbers
 * that do not fit in 64 bits are all refused (a malformed word is -E_INVAL
 * even when its digits would also overflow).
 */
#include <pagoda/errno.h>
#include <pagoda/parse.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int parse_split(char *line, char **argv, int max)
{
    int argc = 0;
    char *p = line;
    for (;;) {
        while (is_space(*p))
            p++;
        if (!*p)
            return argc;
        if (argc == max)
            return -E_OVERFLOW;
        argv[argc++] = p;
        while (*p && !is_space(*p))
            p++;
        if (*p)
            *p++ = '\0';
    }
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

int parse_u64(const char *s, uint64_t *out)
{
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return -E_INVAL;
    uint64_t v = 0;
    bool overflow = false;
    for (; *s; s++) {
        int d = digit_value(*s);
        if (d >= (int)base)
            return -E_INVAL; /* even after an overflow: malformed comes first */
        /* v * base + d must stay below 2^64. */
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            overflow = true;
        v = v * base + (uint64_t)d;
    }
    if (overflow)
        return -E_OVERFLOW;
    *out = v;
    return 0;
}
