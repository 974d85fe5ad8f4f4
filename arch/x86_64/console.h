/* The consoles behind printk: COM1 and the VGA text screen. */
#ifndef PAGODA_CONSOLE_H
#define PAGODA_CONSOLE_H

#include <pagoda/types.h>

/* Probe and program COM1; false when no UART answers the loopback test. */
bool serial_init(void);
bool serial_present(void);
void serial_putc(char c);
/* A received byte, or -1 when none is waiting. */
int serial_getc(void);
/* Wait until the transmitter is empty, so nothing is lost at shutdown. */
void serial_drain(void);
void serial_enable_rx_irq(void);

/* VGA 80x25 text console with scrolling. */
void vga_init(void);
void vga_putc(char c);
/* Move the console's window onto the text buffer at `va` (used by the VMM
 * when it replaces the boot mappings). */
void vga_set_base(vaddr_t va);

/* Stop drawing on the VGA text buffer: a framebuffer console took over. */
void vga_disable(void);

/* The framebuffer console (fb.c): is it drawing? Draw bytes on it, or keep
 * them for it in the early log until arch_fb_console_init. */
bool fb_console_active(void);
struct fbcon;
const struct fbcon *fb_console_get(void); /* NULL when none is drawing */
void fb_console_write(const char *s, size_t n);

/* Write one byte to every console. */
void console_putc(char c);
void arch_console_write(const char *s, size_t n);

#endif
