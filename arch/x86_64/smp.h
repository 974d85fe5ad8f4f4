/* The x86 side of SMP that trap.c and the AP entry need (arch/x86_64/smp*.c). */
#ifndef PAGODA_X86_SMP_H
#define PAGODA_X86_SMP_H

#include <pagoda/percpu.h>

#include "cpu.h"

/* What an AP owns besides its struct cpu: descriptor tables and stacks,
 * all allocated by the boot CPU before the AP starts. */
struct x86_cpu {
    struct cpu_tables tables;
    vaddr_t ist_top[3]; /* #DF, NMI, #MC */
    vaddr_t stack_base; /* vmm_alloc ranges, with guard pages */
};

/* The boot CPU's struct cpu on GS: called by arch_early_init. */
void smp_early_init(void);
/* Is this the "stop" NMI of a panic elsewhere? Checked first on NMI. */
bool smp_nmi_is_stop(void);
/* Halt this CPU for good (state CPU_STOPPED), interrupts and NMIs off. */
__attribute__((noreturn)) void smp_stop_this_cpu(void);
bool smp_this_is_boot_cpu(void);
/* From the fatal paths: stop every other CPU by NMI and print one line
 * naming this CPU. If another CPU is already reporting, halt here quietly. */
void smp_stop_others(void);
/* The AP's idle loop: run calls from the mailbox, else sti; hlt. */
__attribute__((noreturn)) void smp_idle(void);

/* The name of the AP stack whose guard page holds va ("CPU 2's kernel
 * stack"), or NULL: for the stack-overflow report. */
const char *smp_stack_guard_hit(vaddr_t va);

#endif
