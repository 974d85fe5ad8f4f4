/*
 * printk: format into a stack buffer and send it to every console.
 *
 * The console lock keeps one CPU's line whole while others print. It is not
 * a spinlock_t, because printk must work where those would stop us: on a
 * CPU that already holds it (a fault inside a console write, reported by
 * the trap path), and in a panic while a CPU stopped by NMI still holds it.
 * So a CPU that holds it goes straight on, and a waiter that spins too long
 * takes over rather than lose the report. It is the innermost lock
 * (LOCK_LEVEL_CONSOLE): nothing is taken while holding it.
 */
#include <pagoda/printk.h>

#include <arch/arch.h>
#include <pagoda/percpu.h>

static volatile int console_owner = -1; /* CPU index, -1 when free */

void (*volatile console_write_hook)(const char *s, size_t n);

void console_write(const char *s, size_t n)
{
    bool irq = arch_irq_save();
    int me = (int)this_cpu()->index, expect = -1;
    bool nested = console_owner == me;
    for (unsigned long spins = 0; !nested; spins++) {
        expect = -1;
        if (__atomic_compare_exchange_n(&console_owner, &expect, me, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            break;
        if (spins > (1UL << 26)) { /* its holder is stopped or stuck: take it */
            __atomic_store_n(&console_owner, me, __ATOMIC_RELAXED);
            break;
        }
        __asm__ volatile("pause");
    }
    if (console_write_hook)
        console_write_hook(s, n);
    arch_console_write(s, n);
    if (!nested)
        __atomic_store_n(&console_owner, -1, __ATOMIC_RELEASE);
    arch_irq_restore(irq);
}

bool console_held_here(void)
{
    return __atomic_load_n(&console_owner, __ATOMIC_RELAXED) == (int)this_cpu()->index;
}

int printk(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    console_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    return n;
}
