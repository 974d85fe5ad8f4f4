; Interrupt entry stubs. Each stub makes the stack look the same (an error
; code, real or 0, then the vector), saves every general register in the
; order of struct trap_frame (arch/x86_64/cpu.h) and calls trap_dispatch.
;
; The CPU aligns RSP to 16 before it pushes its 5-word frame; 5 + 2 + 15
; words keep it aligned for the call.
;
; GS: in the kernel, IA32_GS_BASE holds this CPU's struct cpu and
; IA32_KERNEL_GS_BASE the user's GS base; in user mode the two are swapped.
; User code can load GS with a selector (its base then becomes the
; descriptor's, 0), so the kernel never trusts GS on an entry from ring 3:
; SWAPGS_IF_USER swaps on every entry from ring 3 and again on the way
; back, so GS is this CPU's whichever CPU the thread last ran on. NMI, #DF
; and #MC can arrive in the few instructions between an entry from ring 3
; and its swapgs (or between the swapgs and the iretq on the way out),
; where the saved CS says ring 0 but GS is the user's: they look at
; IA32_GS_BASE itself (a kernel pointer has its top bit set).

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
    GS_ENTRY 120            ; r12 = 1 when GS was swapped (callee-saved)
    mov rdi, rsp
    call trap_dispatch
    GS_EXIT
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
