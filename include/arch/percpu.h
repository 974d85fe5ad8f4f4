/*
 * How the architecture finds the running CPU's struct cpu: x86_64 keeps its
 * address in IA32_GS_BASE, and struct cpu's first word points at itself, so
 * this is one %gs-relative load. User mode has GS to itself: every entry
 * from ring 3 swaps the kernel's GS base in with swapgs, and the way back
 * swaps it out (arch/x86_64/isr.asm, uentry.asm), on every CPU.
 */
#ifndef PAGODA_ARCH_PERCPU_H
#define PAGODA_ARCH_PERCPU_H

struct cpu;

static inline struct cpu *arch_this_cpu(void)
{
    struct cpu *c;
    __asm__ volatile("movq %%gs:0, %0" : "=r"(c));
    return c;
}

/* Make `c` this CPU's struct (writes IA32_GS_BASE). */
void arch_set_this_cpu(struct cpu *c);

#endif
