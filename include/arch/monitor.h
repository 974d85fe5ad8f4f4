/*
 * What the kernel monitor (src/kern/monitor*.c) asks of the architecture:
 * interrupt-driven console input, a timer tick, memory access that survives
 * faults, a recovery point for whole commands, and a decoded page-table walk.
 * arch/x86_64 implements it (pic.c, kbd.c, input.c, safe.asm, recover.c,
 * ptwalk.c).
 */
#ifndef PAGODA_ARCH_MONITOR_H
#define PAGODA_ARCH_MONITOR_H

#include <pagoda/types.h>

/* ---- input ---------------------------------------------------------- */

/* Start the timer, the keyboard and serial-receive interrupts and enable
 * interrupts (sti). Call once, when the monitor starts. */
void arch_input_start(void);
/* The next input byte from either console (keyboard keys are translated to
 * the bytes a serial terminal sends: arrows become ESC [ A..D). Sleeps with
 * hlt while nothing is waiting. */
int arch_input_getc(void);
/* Is a Ctrl-C (0x03) waiting in the input? Then drop the input up to and
 * including it and return true (the monitor's way to stop a program). */
bool arch_input_take_interrupt(void);
/* Timer ticks since arch_input_start, and their rate. */
uint64_t arch_ticks(void);
#define ARCH_TICK_HZ 100

/* ---- faults --------------------------------------------------------- */

/* The last fault that a safe access or a recovery point caught on this CPU. */
struct arch_fault {
    uint64_t vector; /* 13 #GP, 14 #PF, ... */
    uint64_t error;  /* the CPU's error code */
    uint64_t addr;   /* CR2 for a #PF, else 0 */
    uint64_t rip;    /* where it happened */
};
const struct arch_fault *arch_last_fault(void);
/* Describe a caught fault in one line ("#PF page fault at 0x...: ..."). */
void arch_fault_describe(const struct arch_fault *f, char *buf, size_t size);

/* Is va canonical (bits 63..47 all equal)? Anything else faults with #GP. */
bool arch_va_canonical(vaddr_t va);

/* Copy n bytes between kernel virtual addresses; a #PF or #GP on the way is
 * caught: 0, or -E_RANGE after a fault (arch_last_fault says which). */
int arch_safe_copy(void *dst, const void *src, size_t n);
/* Store a 1/2/4/8-byte value at va with one instruction, the same way. */
int arch_safe_store(vaddr_t va, uint64_t value, unsigned size);

/*
 * A recovery point for a whole monitor command, setjmp-like:
 * arch_recover_arm returns 0 when armed; if an exception hits before
 * arch_recover_disarm(r), the trap is reported and execution comes back out
 * of arch_recover_arm a second time, returning 1.
 *
 * Points nest: arming pushes r over the point already armed, and using or
 * disarming r brings that outer point back, so a command that arms its own
 * point (a test) leaves the monitor's in force. Disarm in reverse order of
 * arming; disarming a point already used does nothing.
 *
 * Coming back also undoes what the architecture held for the abandoned code
 * and would otherwise keep for good: temp-map slots and the foreign
 * page-table slot taken since the point was armed are released.
 */
struct arch_recover {
    uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags; /* safe.asm's layout */
    struct arch_recover *prev; /* the point this one covers */
    uint64_t undo[2];          /* the VMM's holdings when armed */
};
int arch_recover_arm(struct arch_recover *r) __attribute__((returns_twice));
void arch_recover_disarm(struct arch_recover *r);
/* For panic(): is a recovery point armed? Then arch_recover_resume takes the
 * innermost one and comes back out of its arch_recover_arm with 2,
 * interrupts as they were when it was armed. */
bool arch_recover_armed(void);
__attribute__((noreturn)) void arch_recover_resume(void);

/* ---- page tables ---------------------------------------------------- */

/* One level of a walk through the recursive mapping. */
struct arch_walk_level {
    const char *name; /* "PML4", "PDPT", "PD", "PT" */
    unsigned index;   /* entry index in that table */
    vaddr_t entry_va; /* where the entry is seen through the recursive slot */
    uint64_t raw;     /* the entry */
    paddr_t next;     /* the table or frame it points to */
    bool present, leaf;
    uint64_t leaf_size; /* bytes a leaf maps: 4 KiB, 2 MiB or 1 GiB */
};
struct arch_walk {
    unsigned levels; /* levels filled in */
    struct arch_walk_level lv[4];
    bool mapped;
    paddr_t phys; /* the translation when mapped */
};
/* Walk va through the live page tables. -E_INVAL for a non-canonical va. */
int arch_pt_walk(vaddr_t va, struct arch_walk *w);
/* The flags of a page-table entry as words ("P W U G NX A D PS ..."). */
void arch_pte_decode(uint64_t raw, char *buf, size_t size);
/* A use of a frame by the live address space (arch_frame_find_use). */
struct arch_frame_use {
    paddr_t frame;  /* the frame found */
    bool table;     /* a page table (level 4 = the PML4 .. 1 = a PT) ... */
    unsigned level;
    vaddr_t va;     /* ... mapping from va; or a page mapped at va */
};
/* Is a frame of [pa, pa + pages * 4 KiB) a page table of the live space, or
 * mapped by it (in the user half only when `user` is set)? true with *use
 * filled at the first use found. Scans every present table, not the windows. */
bool arch_frame_find_use(paddr_t pa, size_t pages, bool user, struct arch_frame_use *use);

/* The highest physical address the CPU can address, plus one. */
paddr_t arch_phys_limit(void);

#endif
