; User mode entry and exit, and the kernel context switch.
;
; isr_syscall is the DPL-3 gate for `int 0x80`. It builds the same frame as
; isr.asm (struct trap_frame in cpu.h: registers, vector, error, the CPU's
; frame) on the process's kernel stack (TSS.RSP0) and calls
; x86_syscall(frame), which leaves the result in frame->rax.
;
; arch_switch(uint64_t *save, uint64_t next) saves the callee-saved
; registers on the current stack, stores RSP in *save, loads next and pops
; the same registers there: the other thread then returns from its own call
; to arch_switch. A new thread's stack is built by uctx.c so that this
; `ret` lands on user_resume with a trap frame above it, which the iretq at
; the end drops into user mode.
;
; GS (see isr.asm): an entry from ring 3 swaps the kernel's GS base in, and
; user_resume swaps it out again when the frame it returns through goes to
; ring 3. Both look at the frame's CS, so a new thread's first return, which
; never came in through here, is right too.
;
; A new thread's first switch lands on sched_first_return's caller here
; (user_first or kthread_first) rather than in schedule(), so they finish the
; switch the way schedule() would (src/kern/sched.c: the scheduler's lock).

extern x86_syscall
extern sched_first_return
global isr_syscall
global arch_switch
global user_resume
global user_first
global kthread_first

%include "trapframe.inc"

section .text
bits 64

isr_syscall:
    push qword 0
    push qword 0x80
    SAVE_GPRS
    cld
    test byte [rsp + 144], 3    ; the saved CS
    jz .kernel
    swapgs
.kernel:
    mov rdi, rsp
    call x86_syscall
user_resume:
    RESTORE_GPRS
    add rsp, 16
    test byte [rsp + 8], 3      ; back to ring 3: the user's GS base
    jz .iret
    swapgs
.iret:
    iretq

; A new process's first run: the trap frame forged by arch_uctx_new is just
; above (RSP is 16-aligned here).
user_first:
    call sched_first_return
    jmp user_resume

; A new kernel thread's first run: rbx holds its function (never returns).
kthread_first:
    call sched_first_return
    call rbx
    ud2

; void arch_switch(uint64_t *save, uint64_t next)
arch_switch:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
