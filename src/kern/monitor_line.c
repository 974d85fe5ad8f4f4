/*
 * The monitor's line editor. Input comes from arch_input_getc, where the
 * keyboard already speaks the serial terminal's language, so one editor
 * serves both consoles; every echo goes to both screens through printk's
 * console.
 *
 * Keys: printable characters append; Backspace (DEL or ^H) erases one;
 * ^U erases the line; ^C abandons it; Up/Down (ESC [ A / ESC [ B, also
 * ESC O A/B) walk the history; other escape sequences are swallowed whole.
 * Enter is CR, LF or CR LF (the LF after a CR is ignored).
 *
 * Editing is at the end of the line only: erasing is "\b \b", which both a
 * serial terminal and the VGA console understand.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/string.h>

#include "monitor.h"

#define HIST_MAX 16

static char history[HIST_MAX][MON_LINE_MAX];
static unsigned hist_count; /* entries ever added; the newest is hist_count-1 */
static bool last_was_cr;

static void out(const char *s, size_t n) { arch_console_write(s, n); }

static void erase(size_t n)
{
    while (n--)
        out("\b \b", 3);
}

/* Replace the visible line (len chars) with `text`. */
static size_t replace(char *buf, size_t size, size_t len, const char *text)
{
    erase(len);
    size_t n = kstrlcpy(buf, text, size);
    if (n >= size)
        n = size - 1;
    out(buf, n);
    return n;
}

static void remember(const char *line)
{
    if (!*line)
        return;
    if (hist_count && strcmp(history[(hist_count - 1) % HIST_MAX], line) == 0)
        return;
    kstrlcpy(history[hist_count % HIST_MAX], line, MON_LINE_MAX);
    hist_count++;
}

/* Read the rest of an escape sequence after ESC; returns its final byte. */
static int read_escape(void)
{
    int c = arch_input_getc();
    if (c != '[' && c != 'O')
        return 0;
    /* Parameters (digits, ';') until a final byte in 0x40..0x7E. */
    for (int i = 0; i < 8; i++) {
        c = arch_input_getc();
        if (c >= 0x40 && c <= 0x7E)
            return c;
    }
    return 0;
}

size_t mon_readline(const char *prompt, char *buf, size_t size)
{
    size_t len = 0;
    unsigned back = 0; /* how far into the history we are; 0 = the new line */
    char scratch[MON_LINE_MAX] = "";

    buf[0] = '\0';
    out(prompt, strlen(prompt));
    for (;;) {
        int c = arch_input_getc();
        bool after_cr = last_was_cr;
        last_was_cr = c == '\r';
        if (c == '\n' && after_cr)
            continue;
        if (c == '\r' || c == '\n') {
            out("\n", 1);
            buf[len] = '\0';
            remember(buf);
            return len;
        }
        if (c == 0x7F || c == '\b') {
            if (len) {
                len--;
                erase(1);
            }
        } else if (c == 0x15) { /* ^U */
            erase(len);
            len = 0;
        } else if (c == 0x03) { /* ^C */
            out("^C\n", 3);
            buf[0] = '\0';
            return 0;
        } else if (c == 0x1B) {
            int fin = read_escape();
            unsigned avail = hist_count < HIST_MAX ? hist_count : HIST_MAX;
            buf[len] = '\0';
            if (fin == 'A' && back < avail) {
                if (back == 0)
                    kstrlcpy(scratch, buf, sizeof(scratch));
                back++;
                len = replace(buf, size, len, history[(hist_count - back) % HIST_MAX]);
            } else if (fin == 'B' && back > 0) {
                back--;
                len = replace(buf, size, len,
                              back ? history[(hist_count - back) % HIST_MAX] : scratch);
            }
        } else if (c >= 0x20 && c < 0x7F && len + 1 < size) {
            buf[len++] = (char)c;
            char ch = (char)c;
            out(&ch, 1);
        }
    }
}
