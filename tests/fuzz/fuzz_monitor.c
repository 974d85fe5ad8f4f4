/*
 * libFuzzer target for the monitor's input path: bytes into the line editor
 * (src/lib/lineedit.c), each finished line split into words and every word
 * parsed as a number (src/lib/parse.c), as the monitor does. Beyond "no
 * crash" (ASan, UBSan) it checks:
 *   - the line stays below LEDIT_LINE_MAX, NUL-terminated, printable ASCII;
 *   - replaying the echo as a terminal would shows exactly the line;
 *   - the history holds no empty entry;
 *   - parse_u64 agrees with a reference written independently here (128-bit
 *     accumulation), and leaves the output alone on failure.
 */
#include <string.h>

#include <pagoda/errno.h>
#include <pagoda/lineedit.h>
#include <pagoda/parse.h>

#include "fuzz_support.h"

static char term[LEDIT_LINE_MAX + 8];
static size_t col;

/* A one-row terminal: printable bytes overwrite, \b moves left, \n clears. */
static void echo(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n') {
            col = 0;
            memset(term, 0, sizeof(term));
        } else if (c == '\b') {
            INVARIANT(col > 0); /* the editor never erases past the prompt */
            col--;
        } else {
            INVARIANT(col < sizeof(term) - 1);
            term[col++] = c;
        }
    }
}

static int reference(const char *s, uint64_t *out)
{
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return -E_INVAL;
    unsigned __int128 v = 0;
    bool big = false;
    for (; *s; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return -E_INVAL;
        v = v * base + (unsigned)d;
        if (v > UINT64_MAX)
            big = true, v = UINT64_MAX + (unsigned __int128)1; /* stay bounded */
    }
    if (big)
        return -E_OVERFLOW;
    *out = (uint64_t)v;
    return 0;
}

static void check_line(const struct ledit *e)
{
    size_t n = strlen(e->line);
    INVARIANT(n < LEDIT_LINE_MAX);
    for (size_t i = 0; i < n; i++)
        INVARIANT(e->line[i] >= 0x20 && e->line[i] < 0x7F);

    char copy[LEDIT_LINE_MAX], *argv[8];
    memcpy(copy, e->line, n + 1);
    int argc = parse_split(copy, argv, 8);
    INVARIANT(argc >= -E_OVERFLOW);
    for (int i = 0; i < argc; i++) {
        INVARIANT(argv[i][0] && !strchr(argv[i], ' '));
        uint64_t got = 0x5555, want = 0;
        int rc = parse_u64(argv[i], &got), rw = reference(argv[i], &want);
        INVARIANT(rc == rw);
        INVARIANT(rc ? got == 0x5555 : got == want);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ledit e;
    ledit_init(&e, echo, NULL);
    ledit_start(&e);
    col = 0;
    memset(term, 0, sizeof(term));
    bool done = false;
    for (size_t i = 0; i < size; i++) {
        if (done)
            ledit_start(&e);
        done = ledit_feed(&e, data[i]);
        if (done) {
            check_line(&e);
        } else if (e.esc == 0) {
            /* mid-line, the screen shows exactly what is typed */
            INVARIANT(e.len < LEDIT_LINE_MAX);
            INVARIANT(col == e.len && memcmp(term, e.line, e.len) == 0);
        }
    }
    unsigned kept = e.hist_count < LEDIT_HIST_MAX ? e.hist_count : LEDIT_HIST_MAX;
    for (unsigned i = 0; i < kept; i++)
        INVARIANT(e.hist[i][0] != '\0');
    return 0;
}
