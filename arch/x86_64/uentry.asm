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

extern x86_syscall
global isr_syscall
global arch_switch
global user_resume

%include "trapframe.inc"

section .text
bits 64

isr_syscall:
    push qword 0
    push qword 0x80
    SAVE_GPRS
    cld
    mov rdi, rsp
    call x86_syscall
user_resume:
    RESTORE_GPRS
    add rsp, 16
    iretq

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
