/*
 * The stall watchdog (<pagoda/watchdog.h>).
 *
 * A hang on a multi-CPU kernel rarely shows where it is: the CPU that waits
 * spins quietly, and the one it waits for may be anywhere. So the bound is
 * checked from the timer interrupt of every CPU, not only the one that runs
 * the work: whichever ticks first past the deadline panics, and the panic's
 * stop NMI makes every other CPU print where it was (trap.c) before the
 * report. A CPU spinning with interrupts off cannot tick, but the others
 * still do, and the NMI reaches it anyway.
 *
 * Time is arch_clock_ms (the TSC), which follows the emulator's clock: real
 * time under QEMU, emulated time in Bochs.
 *
 * The deadline is one word, 0 when disarmed: a tick reads it with one
 * acquire load, which also publishes the name and the clock's calibration
 * that watchdog_arm wrote before it. Only the first CPU past the deadline
 * reports (an exchange); a disarm that races a tick is honoured by a second
 * look just before the panic.
 */
#include <arch/arch.h>
#include <pagoda/kernel.h>
#include <pagoda/printk.h>
#include <pagoda/watchdog.h>

static uint64_t deadline_ms; /* 0: disarmed */
static const char *what_name;
static unsigned what_secs;
static int fired;

void watchdog_arm(const char *what, unsigned seconds)
{
    uint64_t now = arch_clock_ms(); /* calibrated here, before any tick reads it */
    what_name = what;
    what_secs = seconds;
    __atomic_store_n(&deadline_ms, now + (uint64_t)seconds * 1000, __ATOMIC_RELEASE);
}

void watchdog_disarm(void) { __atomic_store_n(&deadline_ms, 0, __ATOMIC_RELEASE); }

void watchdog_tick(void)
{
    uint64_t d = __atomic_load_n(&deadline_ms, __ATOMIC_ACQUIRE);
    if (likely(d == 0) || arch_clock_ms() < d)
        return;
    if (__atomic_exchange_n(&fired, 1, __ATOMIC_ACQ_REL))
        return;
    if (__atomic_load_n(&deadline_ms, __ATOMIC_ACQUIRE) != d) {
        __atomic_store_n(&fired, 0, __ATOMIC_RELEASE); /* disarmed or re-armed meanwhile */
        return;
    }
    panic_forbid_resume(); /* a recovery point armed by the stalled code must not swallow it */
    panic("watchdog: %s has run for more than %u s: stalled", what_name, what_secs);
}
