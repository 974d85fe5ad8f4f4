/*
 * A clock in milliseconds for long-running loops (the soak): the TSC,
 * calibrated once against 10 ms of the PIT's channel 2 the first time it
 * is asked. Timer interrupts are not counted on purpose: on a loaded host
 * an emulator may drop PIT ticks, and a soak timed by them would run for
 * minutes of real time; the TSC follows the emulator's clock (real time
 * under QEMU's TCG, emulated time in Bochs) whatever is lost.
 *
 * Weakness: the first call spends 10 ms and must come from one CPU at a
 * time (the PIT is not shared); the TSC is assumed to run at a constant rate.
 */
#include <arch/arch.h>

#include "irq.h"
#include "x86.h"

static uint64_t tsc_per_ms;

uint64_t arch_clock_ms(void)
{
    if (!tsc_per_ms) {
        uint64_t t0 = rdtsc_fenced();
        pit_delay_us(10000);
        uint64_t d = (rdtsc_fenced() - t0) / 10;
        tsc_per_ms = d ? d : 1;
    }
    return rdtsc_fenced() / tsc_per_ms;
}
