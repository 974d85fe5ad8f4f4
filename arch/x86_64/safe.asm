; Memory access that survives faults, and the monitor's recovery point.
;
; arch_safe_copy, arch_safe_store, arch_safe_rdmsr and arch_safe_wrmsr do
; their loads, stores and MSR accesses between
; safe_access_start and safe_access_end. When a #PF or #GP hits inside that
; range, trap_recover (recover.c) records the fault and resumes at
; safe_access_fixup, which returns -E_RANGE. The functions push nothing, so
; the fixup's `ret` finds the caller's return address.
;
; arch_recover_arm is setjmp for exceptions: it saves the callee-saved
; registers, the stack pointer, the return address and RFLAGS in a struct
; arch_recover (include/arch/monitor.h) and returns 0. trap_recover rewrites
; the trap frame from it, so that the iretq "returns" from arch_recover_arm
; a second time, with 1 in RAX. arch_recover_resume does the same without a
; trap frame (for panic): it loads the registers itself and returns 2. Both
; go through recover_take (recover.c), which pops the point (points nest),
; undoes the VMM's holdings and ends any PIC line left in service by an
; interrupt handler cut short.

%define E_INVAL 2
%define E_RANGE 6

extern recover_point
extern recover_push
extern recover_take

global arch_safe_copy
global arch_safe_store
global arch_safe_rdmsr
global arch_safe_wrmsr
global arch_recover_arm
global arch_recover_resume
global safe_access_start
global safe_access_end
global safe_access_fixup

section .text
bits 64

; int arch_safe_copy(void *dst, const void *src, size_t n)
arch_safe_copy:
    mov rcx, rdx
    jmp safe_copy_go

; int arch_safe_store(vaddr_t va, uint64_t value, unsigned size)
arch_safe_store:
    cmp edx, 1
    je safe_store_1
    cmp edx, 2
    je safe_store_2
    cmp edx, 4
    je safe_store_4
    cmp edx, 8
    je safe_store_8
    mov eax, -E_INVAL
    ret

; int arch_safe_rdmsr(uint32_t msr, uint64_t *value)
arch_safe_rdmsr:
    mov ecx, edi
    mov r8, rsi
    jmp safe_rdmsr_go

; int arch_safe_wrmsr(uint32_t msr, uint64_t value)
arch_safe_wrmsr:
    mov ecx, edi
    mov eax, esi
    mov rdx, rsi
    shr rdx, 32
    jmp safe_wrmsr_go

safe_access_start:
safe_rdmsr_go:
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov [r8], rax
    jmp safe_ok
safe_wrmsr_go:
    wrmsr
    jmp safe_ok
safe_copy_go:
    rep movsb
    jmp safe_ok
safe_store_1:
    mov [rdi], sil
    jmp safe_ok
safe_store_2:
    mov [rdi], si
    jmp safe_ok
safe_store_4:
    mov [rdi], esi
    jmp safe_ok
safe_store_8:
    mov [rdi], rsi
safe_access_end:
safe_ok:
    xor eax, eax
    ret

safe_access_fixup:
    cld
    mov eax, -E_RANGE
    ret

; int arch_recover_arm(struct arch_recover *r)
arch_recover_arm:
    mov [rdi + 0], rbx
    mov [rdi + 8], rbp
    mov [rdi + 16], r12
    mov [rdi + 24], r13
    mov [rdi + 32], r14
    mov [rdi + 40], r15
    lea rax, [rsp + 8]          ; the stack pointer after our ret
    mov [rdi + 48], rax
    mov rax, [rsp]              ; our return address
    mov [rdi + 56], rax
    pushfq
    pop rax
    mov [rdi + 64], rax
    push rdi                    ; (realigns the stack for the call)
    call recover_push           ; r->prev and r->undo, then r is the point
    pop rdi
    xor eax, eax
    ret

; void arch_recover_resume(void): back to the innermost point, taking it.
arch_recover_resume:
    cmp qword [rel recover_point], 0
    je .none
    sub rsp, 8                  ; (entered by a call: realign for ours)
    call recover_take           ; pops it, undoes, ends PIC lines in service
    mov rdi, rax
    mov rbx, [rdi + 0]
    mov rbp, [rdi + 8]
    mov r12, [rdi + 16]
    mov r13, [rdi + 24]
    mov r14, [rdi + 32]
    mov r15, [rdi + 40]
    mov rsp, [rdi + 48]
    push qword [rdi + 64]
    mov rcx, [rdi + 56]
    mov eax, 2
    popfq                       ; interrupts back as they were at arm time
    jmp rcx
.none:
    cli
    hlt
    jmp .none
