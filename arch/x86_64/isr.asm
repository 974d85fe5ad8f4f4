; Interrupt entry stubs. Each stub makes the stack look the same (an error
; code, real or 0, then the vector), saves every general register in the
; order of struct trap_frame (arch/x86_64/cpu.h) and calls trap_dispatch.
;
; The CPU aligns RSP to 16 before it pushes its 5-word frame; 5 + 2 + 15
; words keep it aligned for the call.

extern trap_dispatch
global isr_table
global isr_common            ; the LAPIC vectors' stubs (smp_entry.asm) end here too

%include "trapframe.inc"

section .text
bits 64

%macro ISR_NOERR 1
isr_%1:
    push qword 0
    push qword %1
    jmp isr_common
%endmacro

%macro ISR_ERR 1
isr_%1:
    push qword %1
    jmp isr_common
%endmacro

isr_common:
    SAVE_GPRS
    cld
    mov rdi, rsp
    call trap_dispatch
    RESTORE_GPRS
    add rsp, 16             ; vector and error code
    iretq

; Vectors 8, 10-14, 17, 21, 29 and 30 push an error code; the rest do not.
%assign i 0
%rep 48
%if i == 8 || (i >= 10 && i <= 14) || i == 17 || i == 21 || i == 29 || i == 30
    ISR_ERR i
%else
    ISR_NOERR i
%endif
%assign i i + 1
%endrep

section .rodata
align 8
isr_table:
%assign i 0
%rep 48
    dq isr_ %+ i
%assign i i + 1
%endrep
