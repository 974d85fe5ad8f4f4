/*
 * What the process code (src/kern/proc*.c, sched.c, syscall.c) asks of the
 * architecture to run user programs: entering ring 3, switching kernel
 * threads, reaching user memory safely, and the fault and timer hooks that
 * call back into the process code. arch/x86_64/uctx.c implements it.
 */
#ifndef PAGODA_ARCH_USER_H
#define PAGODA_ARCH_USER_H

#include <pagoda/types.h>

/* Install the system-call gate, the user-mode exception and timer hooks,
 * and turn on SMEP/SMAP when the CPU has them. Call once, after vmm_init. */
void arch_user_init(void);
/* Start the timer tick that preempts user code (idempotent). */
void arch_user_timer_start(void);
/* "SMEP SMAP", "SMEP", ... for the boot log: what arch_user_init enabled. */
const char *arch_user_features(void);
/* Is SMAP on (kernel access to user pages only inside arch_copy_user)? */
bool arch_user_smap_on(void);

/* Build a kernel stack (top: its end, 16-aligned) whose first switch-in
 * enters user mode at entry with stack pointer sp and a0, a1 in the first
 * two argument registers. Returns the stack pointer to switch to. */
uint64_t arch_uctx_new(uint8_t *top, vaddr_t entry, vaddr_t sp, uint64_t a0, uint64_t a1);
/* The same for a fork child: a copy of the user state the parent's system
 * call (on the stack ending at parent_top) came from, returning 0. */
uint64_t arch_uctx_fork(uint8_t *top, const uint8_t *parent_top);
/* Build a kernel stack whose first switch-in calls fn() (which must never
 * return): the per-CPU idle threads. Returns the stack pointer. */
uint64_t arch_kctx_new(uint8_t *top, void (*fn)(void));
/* The top of the boot CPU's idle-thread stack (the APs idle on the stack
 * they came up on). */
uint8_t *arch_idle_kstack(void);
/* Save this thread's callee-saved state and stack pointer in *save, and
 * continue the thread whose stack pointer is next. */
void arch_switch(uint64_t *save, uint64_t next);
/* Make s (NULL: the kernel's) the live space on this CPU, through
 * arch_mmu_activate, for a thread about to run here. */
struct vmm_space;
void arch_user_activate(struct vmm_space *s);
/* The kernel stack this CPU switches to on a trap from user mode (its own
 * TSS.RSP0: set on every CPU that switches to a process). */
void arch_set_kernel_stack(uint8_t *top);

/* The top of kernel stack i (0..ARCH_PROC_STACKS-1), 16 KiB with an
 * unmapped guard page below, for process slot i + 1. */
#define ARCH_PROC_STACKS 8
uint8_t *arch_proc_kstack(unsigned i);

/* Copy between kernel memory and user memory (either side may be user);
 * a fault on the way is caught: 0 or -E_RANGE. With SMAP, user access is
 * allowed only inside these. The caller has already checked the range. */
int arch_copy_user(void *dst, const void *src, size_t n);

/* ---- called by the architecture ---------------------------------------- */

/* A page fault in user mode at addr (acc: VM_ACC_* of <pagoda/vm.h>).
 * Returns if it was resolved; otherwise kills the process (never returns). */
void proc_user_page_fault(vaddr_t addr, unsigned acc, uint64_t rip);
/* Any other exception in user mode: kill the process with this report. */
__attribute__((noreturn)) void proc_user_exception(const char *what, uint64_t error, uint64_t rip);
/* The timer ticked while user code ran: maybe switch. */
void sched_tick(void);
/* A cross-CPU call arrived while user code ran: switch to this CPU's idle
 * thread if the call needs it (it serves the call mailbox). */
void sched_call_kick(void);
/* Called by a new thread's first return from a switch (uentry.asm): finish
 * the switch as schedule() would. */
void sched_first_return(void);
/* A system call: number and arguments; the result goes back in RAX. */
long syscall_dispatch(unsigned long nr, unsigned long a0, unsigned long a1, unsigned long a2,
                      unsigned long a3, unsigned long a4);

#endif
