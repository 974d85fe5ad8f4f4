/*
 * A line editor for terminals, fed one byte at a time (src/lib/lineedit.c).
 * Portable: the monitor feeds it from the consoles, the host tests and the
 * fuzzer from buffers. It understands what a serial terminal sends (and the
 * keyboard driver imitates): printable ASCII, Backspace (DEL or ^H), ^U,
 * ^C, CR / LF / CR LF, and ESC [ A / ESC [ B (also ESC O A/B) for history.
 * It echoes through `write`, erasing with "\b \b"; editing is at the end of
 * the line only.
 */
#ifndef PAGODA_LINEEDIT_H
#define PAGODA_LINEEDIT_H

#include <pagoda/types.h>

#define LEDIT_LINE_MAX 160 /* bytes per line, with the NUL */
#define LEDIT_HIST_MAX 16  /* lines of history kept */

struct ledit {
    void (*write)(void *ctx, const char *s, size_t n);
    void *ctx;
    char line[LEDIT_LINE_MAX]; /* the line; NUL-terminated once complete */
    size_t len;
    char hist[LEDIT_HIST_MAX][LEDIT_LINE_MAX];
    unsigned hist_count;          /* lines ever remembered; the newest is hist_count - 1 */
    unsigned back;                /* how far into the history the line is (0: a new line) */
    char scratch[LEDIT_LINE_MAX]; /* the new line, while browsing history */
    int esc;                      /* 0: none; 1: after ESC; 2: inside ESC [ ... */
    unsigned esc_len;
    bool last_cr;
};

/* Start with an empty history; `write` receives every echo. */
void ledit_init(struct ledit *e, void (*write)(void *ctx, const char *s, size_t n), void *ctx);
/* Begin a new line (the caller prints its prompt first). */
void ledit_start(struct ledit *e);
/* Feed one input byte. Returns true when the line is complete: e->line
 * holds it (empty after ^C), and it joined the history if not empty. */
bool ledit_feed(struct ledit *e, uint8_t c);

#endif
