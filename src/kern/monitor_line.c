/*
 * The monitor's input: the line editor (src/lib/lineedit.c) fed from
 * arch_input_getc, where the keyboard already speaks the serial terminal's
 * language, so one editor serves both consoles. Echoes go to both screens.
 */
#include <arch/arch.h>
#include <pagoda/printk.h>
#include <arch/monitor.h>
#include <pagoda/lineedit.h>
#include <pagoda/string.h>

#include "monitor.h"

static struct ledit editor;
static bool ready;

static void echo(void *ctx, const char *s, size_t n)
{
    console_write(s, n);
}

size_t mon_readline(const char *prompt, char *buf, size_t size)
{
    if (!ready) {
        ledit_init(&editor, echo, NULL);
        ready = true;
    }
    console_write(prompt, strlen(prompt));
    ledit_start(&editor);
    while (!ledit_feed(&editor, (uint8_t)arch_input_getc()))
        ;
    kstrlcpy(buf, editor.line, size);
    return strlen(buf);
}
