/* Descriptor tables, traps and stacks of the boot CPU. */
#ifndef PAGODA_CPU_H
#define PAGODA_CPU_H

#include <pagoda/types.h>

#define GDT_KCODE 0x08
#define GDT_KDATA 0x10
#define GDT_UCODE 0x1B /* 64-bit user code, RPL 3 */
#define GDT_UDATA 0x23
#define GDT_TSS   0x28

/* IST slots (1-based, as the IDT encodes them). */
#define IST_DF  1
#define IST_NMI 2
#define IST_MC  3

#define IRQ_BASE 32 /* the PIC's lines start at this vector */

/* What isr.asm pushes: the registers, then vector and error code, then the
 * CPU's own frame. Shared with NASM; keep the order. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "isr.asm pushes 22 words");

/* Load the kernel GDT (with the TSS and its IST stacks) and the IDT. */
void gdt_init(void);
void idt_init(void);

struct tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

#define GDT_ENTRIES 7
/* One CPU's GDT and TSS: the boot CPU's in cpu.c, each AP's in its struct. */
struct cpu_tables {
    uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
    struct tss tss;
};
/* Build gdt (GDT_ENTRIES) with the kernel's layout and tss with #DF, NMI and
 * #MC IST stacks starting at ist_top[0..2], then load them on this CPU (CS,
 * data segments, TR). gdt_init is this for the boot CPU. */
void gdt_setup(uint64_t *gdt, struct tss *tss, const vaddr_t ist_top[3]);
/* Load the one IDT on this CPU (APs; idt_init fills and loads it). */
void idt_load(void);
/* Point vector v (48..255) at handler, on IST slot ist (0: none). */
void idt_set_gate(int v, uint64_t handler, uint8_t ist);

/* A handler for one vector; returns true when it handled the trap and the
 * interrupted code may go on. Returning false makes the trap fatal. */
typedef bool (*trap_handler_t)(struct trap_frame *f);
void trap_set_handler(int vector, trap_handler_t h);
/* The handler now installed for `vector` (NULL: none), to restore later. */
trap_handler_t trap_get_handler(int vector);

/* Print the whole trap frame, decoded, with a backtrace. */
void trap_dump(const struct trap_frame *f);
const char *trap_name(uint64_t vector);
/* Decode a #PF error code into buf ("present write user ..."). */
void trap_decode_pf(uint64_t err, char *buf, size_t size);

/*
 * Kernel stacks. KSTACK_DEFINE reserves `size` bytes of stack in .bss with a
 * guard page right below it and records the guard, so that the VMM can unmap
 * every guard page (a stack overflow then faults instead of corrupting).
 */
struct kstack_guard {
    vaddr_t guard; /* the page to leave unmapped */
    const char *name;
};
#define KSTACK_DEFINE(sym, size)                                               \
    __attribute__((section(".bss.kstack"), aligned(4096)))                     \
    uint8_t sym##_area[4096 + (size)];                                         \
    __attribute__((used, section(".kstack_guards"), aligned(8)))               \
    static const struct kstack_guard sym##_guard = {(vaddr_t)sym##_area, #sym}
extern const struct kstack_guard __kstack_guards_start[], __kstack_guards_end[];

/* Is `va` inside one of the kernel stacks' guard pages? Returns its name. */
const char *kstack_guard_hit(vaddr_t va);
/* Was trap `vector`, taken with the interrupted RSP `rsp` and CR2 `cr2`, a
 * kernel stack overflow? The stack's name, or NULL. A #PF counts when CR2 is
 * in a guard page; a #DF only when RSP is also in, or just above, that guard
 * page, since its CR2 may be stale (left by an earlier, recovered #PF). */
const char *kstack_overflow(uint64_t vector, uint64_t rsp, uint64_t cr2);

/* Machine checks (mce.c). mce_init sets CR4.MCE when CPUID has MCE and
 * enables reporting in every MCA bank; false when the CPU has no MCE. */
bool mce_init(void);
bool mce_enabled(void);
unsigned mce_banks(void); /* MCA banks found (0 without MCA) */
/* Print MCG_STATUS and every bank with a valid error (for the #MC report). */
void mce_report(void);
/* An MCi_STATUS value in words ("valid uncorrected enabled ..."). */
void mce_decode_status(uint64_t status, char *buf, size_t size);

/* NMIs taken and survived since boot (trap.c). */
uint64_t trap_nmi_count(void);

/* rdmsr and wrmsr that survive a #GP (an MSR the CPU lacks): 0, or -E_RANGE
 * after a fault (safe.asm). */
int arch_safe_rdmsr(uint32_t msr, uint64_t *value);
int arch_safe_wrmsr(uint32_t msr, uint64_t value);

#endif
