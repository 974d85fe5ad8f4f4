/*
 * The monitor's line editor, as a byte-at-a-time state machine so that it
 * runs the same on the consoles, in host tests and under the fuzzer.
 *
 * Invariants: 0 <= len < LEDIT_LINE_MAX, line[0..len) printable ASCII, and
 * what the terminal shows after the prompt is exactly line[0..len), because
 * every change echoes: an append prints the byte, an erase prints "\b \b",
 * and a history recall erases the whole line and prints the entry.
 *
 * History is a ring of LEDIT_HIST_MAX lines; an empty line or a repeat of
 * the newest entry is not stored. Browsing up saves the line being typed in
 * `scratch`, and coming back down past the newest entry restores it.
 *
 * Escape sequences: ESC then '[' or 'O', then parameter bytes, then a final
 * byte in 0x40..0x7E. Only A (up) and B (down) do something; the rest
 * (arrows left/right, Home, Delete, F-keys) are swallowed whole, and a
 * sequence longer than 8 bytes is abandoned, so junk cannot wedge the editor.
 */
#include <pagoda/lineedit.h>
#include <pagoda/string.h>

#define ESC_MAX 8

static void out(struct ledit *e, const char *s, size_t n)
{
    e->write(e->ctx, s, n);
}

static void erase(struct ledit *e, size_t n)
{
    while (n--)
        out(e, "\b \b", 3);
}

void ledit_init(struct ledit *e, void (*write)(void *ctx, const char *s, size_t n), void *ctx)
{
    memset(e, 0, sizeof(*e));
    e->write = write;
    e->ctx = ctx;
}

void ledit_start(struct ledit *e)
{
    e->len = 0;
    e->line[0] = '\0';
    e->back = 0;
    e->esc = 0;
}

/* Show `text` instead of the current line. */
static void replace(struct ledit *e, const char *text)
{
    erase(e, e->len);
    kstrlcpy(e->line, text, sizeof(e->line));
    e->len = strlen(e->line);
    out(e, e->line, e->len);
}

static const char *hist_entry(const struct ledit *e, unsigned back)
{
    return e->hist[(e->hist_count - back) % LEDIT_HIST_MAX];
}

static void history_move(struct ledit *e, int dir)
{
    unsigned avail = e->hist_count < LEDIT_HIST_MAX ? e->hist_count : LEDIT_HIST_MAX;
    e->line[e->len] = '\0';
    if (dir > 0 && e->back < avail) {
        if (e->back == 0)
            kstrlcpy(e->scratch, e->line, sizeof(e->scratch));
        e->back++;
        replace(e, hist_entry(e, e->back));
    } else if (dir < 0 && e->back > 0) {
        e->back--;
        replace(e, e->back ? hist_entry(e, e->back) : e->scratch);
    }
}

static void remember(struct ledit *e)
{
    if (e->len == 0)
        return;
    if (e->hist_count && strcmp(hist_entry(e, 1), e->line) == 0)
        return;
    kstrlcpy(e->hist[e->hist_count % LEDIT_HIST_MAX], e->line, LEDIT_LINE_MAX);
    e->hist_count++;
}

bool ledit_feed(struct ledit *e, uint8_t c)
{
    bool after_cr = e->last_cr;
    e->last_cr = c == '\r';

    if (e->esc == 1) {
        e->esc = (c == '[' || c == 'O') ? 2 : 0;
        e->esc_len = 0;
        return false;
    }
    if (e->esc == 2) {
        if (c >= 0x40 && c <= 0x7E) {
            e->esc = 0;
            if (c == 'A')
                history_move(e, +1);
            else if (c == 'B')
                history_move(e, -1);
        } else if (++e->esc_len > ESC_MAX) {
            e->esc = 0;
        }
        return false;
    }

    switch (c) {
    case '\n':
        if (after_cr)
            return false; /* the LF of a CR LF */
        /* fall through */
    case '\r':
        out(e, "\n", 1);
        e->line[e->len] = '\0';
        remember(e);
        return true;
    case 0x7F:
    case '\b':
        if (e->len) {
            e->len--;
            erase(e, 1);
        }
        return false;
    case 0x15: /* ^U */
        erase(e, e->len);
        e->len = 0;
        return false;
    case 0x03: /* ^C */
        out(e, "^C\n", 3);
        e->len = 0;
        e->line[0] = '\0';
        return true;
    case 0x1B:
        e->esc = 1;
        return false;
    default:
        if (c >= 0x20 && c < 0x7F && e->len + 1 < LEDIT_LINE_MAX) {
            e->line[e->len++] = (char)c;
            out(e, (const char *)&c, 1);
        }
        return false;
    }
}
