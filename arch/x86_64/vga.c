/*
 * VGA 80x25 text console. It handles \n, \r, \b and \t, scrolls at the
 * bottom and moves the hardware cursor. The buffer is physical 0xB8000,
 * reached through the kernel window until the VMM gives it its own page.
 */
#include <pagoda/memlayout.h>
#include <pagoda/string.h>

#include "console.h"
#include "x86.h"

#define COLS 80
#define ROWS 25
#define ATTR 0x07

static volatile uint16_t *buf = (volatile uint16_t *)(KERNEL_VMA + 0xB8000);
static int row, col;

static void update_cursor(void)
{
    uint16_t pos = (uint16_t)(row * COLS + col);
    outb(0x3D4, 0x0F);
    outb(0x3D5, (uint8_t)(pos & 0xFF));
    outb(0x3D4, 0x0E);
    outb(0x3D5, (uint8_t)(pos >> 8));
}

void vga_set_base(vaddr_t va) { buf = (volatile uint16_t *)va; }

static bool disabled;
void vga_disable(void) { disabled = true; }

void vga_init(void)
{
    for (int i = 0; i < COLS * ROWS; i++)
        buf[i] = (ATTR << 8) | ' ';
    row = col = 0;
    update_cursor();
}

static void scroll(void)
{
    for (int i = 0; i < COLS * (ROWS - 1); i++)
        buf[i] = buf[i + COLS];
    for (int i = COLS * (ROWS - 1); i < COLS * ROWS; i++)
        buf[i] = (ATTR << 8) | ' ';
    row = ROWS - 1;
}

void vga_putc(char c)
{
    switch (c) {
    case '\n':
        col = 0;
        row++;
        break;
    case '\r':
        col = 0;
        break;
    case '\b':
        /* At column 0, back up over the wrap onto the row above, so that
         * the monitor can erase a line longer than the screen is wide. */
        if (col == 0 && row > 0) {
            row--;
            col = COLS;
        }
        if (col > 0)
            buf[row * COLS + --col] = (ATTR << 8) | ' ';
        break;
    case '\t':
        col = (col + 8) & ~7;
        break;
    default:
        if ((unsigned char)c < 0x20)
            return; /* escape sequences are for the serial line */
        buf[row * COLS + col] = (uint16_t)((ATTR << 8) | (unsigned char)c);
        col++;
    }
    if (col >= COLS) {
        col = 0;
        row++;
    }
    if (row >= ROWS)
        scroll();
    update_cursor();
}

void console_putc(char c)
{
    arch_console_write(&c, 1);
}

/* COM1 and VGA byte by byte; the framebuffer console takes the whole
 * write, so its cursor is redrawn once per write, not once per byte. */
void arch_console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            serial_putc('\r');
        serial_putc(s[i]);
        if (!disabled)
            vga_putc(s[i]);
    }
    fb_console_write(s, n);
}
