/*
 * What generic kernel code may ask of the architecture. arch/x86_64
 * implements it; nothing in src/ includes an arch/x86_64 header except
 * through here (or kernel-only files that are x86 by nature).
 */
#ifndef PAGODA_ARCH_H
#define PAGODA_ARCH_H

#include <pagoda/types.h>

/* Bring up the consoles, descriptor tables and exception handlers. */
void arch_early_init(void);

/* Write bytes to every console (COM1, and VGA text or the framebuffer). */
void arch_console_write(const char *s, size_t n);

/* Bring up the framebuffer console when the boot info has a framebuffer:
 * after vmm_init (it maps the device). It replays the boot log so far. */
void arch_fb_console_init(void);
/* Time a full-screen scroll of the framebuffer console (for kbench). */
void arch_fb_console_bench(void);

/* A Bochs magic breakpoint (needs magic_break: enabled=1, as `make
 * bochs-debug` sets): drop Bochs into its debugger right here. A no-op
 * elsewhere (xchg of a register with itself). */
#define BOCHS_BREAK() __asm__ volatile("xchg %%bx, %%bx" ::: "memory")

/* Stop this CPU for good, interrupts off. */
__attribute__((noreturn)) void arch_halt(void);
/* Reset the machine (keyboard controller, then a triple fault). */
__attribute__((noreturn)) void arch_reboot(void);
/*
 * Leave the emulator with a status: QEMU's isa-debug-exit (0x10 -> 33 for
 * success, 0x11 -> 35 for failure) and Bochs's 0x8900 shutdown, after the
 * UART has drained. On real hardware neither port does anything and we halt.
 */
__attribute__((noreturn)) void arch_emulator_exit(bool success);

/* Print a frame-pointer backtrace starting at frame `rbp` (0: the caller's). */
void arch_backtrace(uint64_t rbp);
/* The name of the symbol containing `addr` and the offset into it, or NULL. */
const char *ksym_lookup(uint64_t addr, uint64_t *offset);
/* Up to max return addresses of the frame-pointer chain, after skipping the
 * first `skip` (0: starts with the return into the caller). Returns how many. */
unsigned arch_stack_capture(uintptr_t *pcs, unsigned max, unsigned skip);
/* One backtrace line for pc: "    #i 0x... symbol+0x..". */
void arch_print_pc(unsigned i, uintptr_t pc);

bool arch_irq_save(void);         /* disable interrupts, return previous state */
void arch_irq_restore(bool was_on);

/* Milliseconds of the emulator's (or machine's) clock since some point in
 * the past, from the TSC: for loops that run for a given time. The first
 * call calibrates (10 ms, one CPU at a time). */
uint64_t arch_clock_ms(void);

/* From the fatal paths: stop every other CPU (by NMI) and print a line
 * naming this one. If another CPU is already reporting, halt here quietly. */
void arch_stop_other_cpus(void);

/* Log the CPU features memory management depends on (NX, 1 GiB pages). */
void arch_cpu_report(void);

/* The emulator we run under ("QEMU TCG", "Bochs") or NULL on hardware. */
const char *arch_emulator_name(void);

#endif
