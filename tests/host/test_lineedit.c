/* Host tests of the monitor's line editor (src/lib/lineedit.c). */
#include <pagoda/lineedit.h>
#include <string.h>

#include "harness.h"

static char screen[8192];
static size_t screen_len;

static void capture(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    if (screen_len + n < sizeof(screen)) {
        memcpy(screen + screen_len, s, n);
        screen_len += n;
        screen[screen_len] = '\0';
    }
}

/* Replay the echo as a terminal would: the text of the last line. */
static const char *visible(void)
{
    static char row[512];
    size_t col = 0;
    for (size_t i = 0; i < screen_len; i++) {
        char c = screen[i];
        if (c == '\n')
            col = 0;
        else if (c == '\b')
            col = col ? col - 1 : 0;
        else if (col + 1 < sizeof(row))
            row[col++] = c;
        row[col] = '\0';
    }
    /* trailing blanks written by "\b \b" are not text */
    size_t n = strlen(row);
    while (n && row[n - 1] == ' ')
        row[--n] = '\0';
    return row;
}

static struct ledit ed;
static bool completed; /* the last byte ended a line: start a new one first */

static void reset(void)
{
    screen_len = 0;
    screen[0] = '\0';
    completed = false;
    ledit_init(&ed, capture, NULL);
}

/* Feed bytes as the monitor does; returns how many lines completed, the
 * last one left in ed.line. */
static int feed(const char *s)
{
    int done = 0;
    for (; *s; s++) {
        if (completed)
            ledit_start(&ed);
        completed = ledit_feed(&ed, (uint8_t)*s);
        done += completed;
    }
    return done;
}

HTEST(ledit_plain_line_and_echo)
{
    reset();
    ledit_start(&ed);
    CHECK_EQ(feed("help"), 0);
    CHECK(strcmp(visible(), "help") == 0);
    CHECK_EQ(feed("\r"), 1);
    CHECK(strcmp(ed.line, "help") == 0);
    CHECK_EQ(ed.hist_count, 1);
}

HTEST(ledit_backspace_and_ctrl_u)
{
    reset();
    ledit_start(&ed);
    feed("helq\x7fp");
    CHECK(strcmp(visible(), "help") == 0);
    feed("\b\b\b\b\b\b"); /* more than there is: stops at empty */
    CHECK_EQ(ed.len, 0);
    feed("garbage\x15walk");
    CHECK(strcmp(visible(), "walk") == 0);
    CHECK_EQ(feed("\n"), 1);
    CHECK(strcmp(ed.line, "walk") == 0);
}

HTEST(ledit_crlf_is_one_enter)
{
    reset();
    ledit_start(&ed);
    CHECK_EQ(feed("a\r\nb\r"), 2);
    CHECK(strcmp(ed.line, "b") == 0);
    CHECK_EQ(feed("\n"), 0); /* the LF of CR LF: not another (empty) line */
    CHECK_EQ(feed("\n"), 1); /* a lone LF still ends a line */
    CHECK_EQ(ed.len, 0);
}

HTEST(ledit_ctrl_c_abandons)
{
    reset();
    ledit_start(&ed);
    CHECK_EQ(feed("poke 0 0\x03"), 1);
    CHECK_EQ(ed.line[0], '\0');
    CHECK_EQ(ed.hist_count, 0);
}

HTEST(ledit_history_up_down)
{
    reset();
    ledit_start(&ed);
    feed("one\rtwo\rtwo\rthree\r"); /* the repeated "two" is stored once */
    CHECK_EQ(ed.hist_count, 3);
    ledit_start(&ed);
    feed("typed");
    feed("\x1b[A");
    CHECK(strcmp(visible(), "three") == 0);
    feed("\x1b[A\x1bOA"); /* ESC O A is Up too */
    CHECK(strcmp(visible(), "one") == 0);
    feed("\x1b[A"); /* past the oldest: stays */
    CHECK(strcmp(visible(), "one") == 0);
    feed("\x1b[B\x1b[B");
    CHECK(strcmp(visible(), "three") == 0);
    feed("\x1b[B"); /* back to what was being typed */
    CHECK(strcmp(visible(), "typed") == 0);
    feed("\x1b[A\r");
    CHECK(strcmp(ed.line, "three") == 0);
}

HTEST(ledit_history_ring_keeps_newest)
{
    reset();
    char line[16];
    for (int i = 0; i < LEDIT_HIST_MAX + 5; i++) {
        ledit_start(&ed);
        snprintf(line, sizeof(line), "c%d\r", i);
        feed(line);
    }
    ledit_start(&ed);
    for (int i = 0; i < LEDIT_HIST_MAX + 3; i++)
        feed("\x1b[A");
    char want[16];
    snprintf(want, sizeof(want), "c%d", 5); /* the oldest one kept */
    CHECK(strcmp(visible(), want) == 0);
}

HTEST(ledit_other_escapes_swallowed)
{
    reset();
    ledit_start(&ed);
    feed("ab\x1b[C\x1b[D\x1b[3~\x1b[15;2~c");
    CHECK(strcmp(visible(), "abc") == 0);
    feed("\x1bxd"); /* ESC + junk: both dropped, then d */
    CHECK(strcmp(visible(), "abcd") == 0);
    feed("\x1b[0123456789"); /* too long: abandoned, later bytes count again */
    feed("e");
    CHECK(ed.line[ed.len - 1] == 'e');
}

HTEST(ledit_long_line_and_controls)
{
    reset();
    ledit_start(&ed);
    for (int i = 0; i < 3 * LEDIT_LINE_MAX; i++)
        ledit_feed(&ed, 'x');
    CHECK_EQ(ed.len, LEDIT_LINE_MAX - 1);
    feed("\t\x01\x02\x80\xff"); /* ignored */
    CHECK_EQ(ed.len, LEDIT_LINE_MAX - 1);
    CHECK_EQ(feed("\r"), 1);
    CHECK_EQ(strlen(ed.line), LEDIT_LINE_MAX - 1);
}
