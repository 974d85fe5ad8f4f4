/*
 * panic: the one fatal path. Interrupts off, the message with file:line, the
 * registers of the caller's frame and a backtrace; then halt, or leave the
 * emulator with the failure status in test and fault modes.
 *
 * A panic while panicking (a fault in the backtrace, say) prints one short
 * line and stops, rather than recursing until the stack is gone.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/kernel.h>
#include <pagoda/percpu.h>
#include <pagoda/printk.h>

static volatile int panicking;
static volatile bool no_resume;

void panic_forbid_resume(void) { no_resume = true; }

bool kernel_panicking(void)
{
    return panicking != 0;
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
    arch_irq_save();
    /* Only the boot CPU runs the monitor, so only it may resume there. Any
     * other panic stops the other CPUs first (a CPU that finds another one
     * already reporting halts inside this call). */
    bool recoverable = this_cpu()->index == 0 && arch_recover_armed() && !no_resume;
    if (!recoverable)
        arch_stop_other_cpus();
    if (panicking++) {
        printk("\n*** panic while panicking (%s:%d)\n", file, line);
        if (kernel_exit_on_panic)
            arch_emulator_exit(false);
        arch_halt();
    }

    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    printk("\n*** PANIC at %s:%d: %s\n", file, line, msg);
    arch_backtrace(0);
    if (recoverable) { /* inside a monitor command: back to the prompt */
        panicking = 0;
        arch_recover_resume();
    }
    if (kernel_exit_on_panic) {
        printk("*** leaving the emulator with failure status\n");
        arch_emulator_exit(false);
    }
    printk("*** system halted\n");
    arch_halt();
}
