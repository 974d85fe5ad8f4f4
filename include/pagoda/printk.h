/*
 * Kernel console output and the one fatal path.
 *
 * In the kernel, printk writes to COM1 and the VGA text screen. In host
 * builds of the portable cores, tests/host provides printk and panic_at.
 */
#ifndef PAGODA_PRINTK_H
#define PAGODA_PRINTK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Print a formatted line fragment to every console. Conversions:
 * %s %c %d %i %u %x %X %p %zu %%, with l/ll/z, width and zero padding. */
int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write n bytes to every console under the console lock, so that another
 * CPU's printk does not cut into them (printk, the monitor's echo and the
 * write system call all come here). Kernel only. */
void console_write(const char *s, size_t n);
/* True while this CPU holds the console lock; tests read it from
 * console_write_hook, which (when set) runs inside the lock. */
bool console_held_here(void);
extern void (*volatile console_write_hook)(const char *s, size_t n);

/* Format into buf (always NUL-terminated when size > 0). Returns the length
 * the full output would have had, as C's vsnprintf does. */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
int ksnprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The one fatal path: print the message with file:line, registers and a
 * backtrace, then halt (or leave the emulator in test and fault modes).
 * Safe to re-enter: a panic inside panic only prints a short line. */
__attribute__((noreturn, format(printf, 3, 4)))
void panic_at(const char *file, int line, const char *fmt, ...);
#define panic(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)

/* Always-on assertion, for invariants whose failure means a kernel bug. */
#define ASSERT(c)                                                              \
    do {                                                                       \
        if (__builtin_expect(!(c), 0))                                         \
            panic("assertion failed: %s", #c);                                 \
    } while (0)

#endif
