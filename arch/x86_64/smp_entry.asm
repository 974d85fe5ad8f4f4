; How an application processor enters the kernel, and the LAPIC vectors.
;
; The trampoline (ap_tramp_start..ap_tramp_end) is data here: smp.c copies it
; into a page below 1 MiB and fills its parameter block (ap_tramp_params,
; struct ap_params in smp.c) before each start-up IPI. The AP begins at
; CS:IP = page>>4 : 0 in real mode, and:
;   1. loads the trampoline's own GDT (flat 32-bit code/data, 64-bit code);
;   2. enters protected mode and far-jumps to 32-bit code, keeping the
;      page's physical base in EBX for every later address;
;   3. loads CR4 (PAE and the boot CPU's other bits), CR3 (a bring-up space
;      below 4 GiB that maps this page at its physical address beside the
;      shared kernel half), EFER (LME, and NXE when the kernel uses NX) and
;      CR0 (PG, WP), in LONGMODE_ENTER's order (boot/longmode.inc): long
;      mode, still in compatibility mode;
;   4. far-jumps to the 64-bit code segment, reads its stack, its struct cpu,
;      the kernel's own CR3 and the C entry from the block, and jumps to
;      ap_entry64 in the higher half, which switches to the kernel's tables
;      (this page is not mapped there) and calls ap_main(cpu).
; The AP writes nothing into the page, so the page can be mapped read-only.

%include "longmode.inc"

bits 16
section .rodata
align 16
global ap_tramp_start, ap_tramp_end, ap_tramp_params, ap_pm32, ap_lm64

%define P(x) (ap_tramp_params - ap_tramp_start + (x))
; struct ap_params offsets (smp.c checks them with _Static_assert)
%define AP_GDTR     0
%define AP_PM_PTR   8
%define AP_LM_PTR   16
%define AP_CR3_BOOT 24
%define AP_CR4      32
%define AP_EFER     40
%define AP_CR0      48
%define AP_CR3      56
%define AP_STACK    64
%define AP_ENTRY    72
%define AP_CPU      80
%define AP_GDT      88

; EFER for LONGMODE_ENTER: the boot CPU's, LME and NXE as it has them.
%macro ap_efer 0
    mov eax, [ebx + P(AP_EFER)]
    mov edx, [ebx + P(AP_EFER) + 4]
%endmacro

ap_tramp_start:
    cli
    cld
    mov ax, cs
    mov ds, ax
    xor ebx, ebx
    mov bx, ax
    shl ebx, 4                      ; EBX = this page's physical address
    lgdt [P(AP_GDTR)]
    mov eax, cr0
    or eax, 1                       ; PE
    mov cr0, eax
    o32 jmp far [P(AP_PM_PTR)]      ; to ap_pm32, CS = 32-bit code

bits 32
ap_pm32:
    LOAD_DATA_SEGMENTS 0x10
    LONGMODE_ENTER {mov eax, [ebx + P(AP_CR4)]}, {mov eax, [ebx + P(AP_CR3_BOOT)]}, ap_efer, \
        {mov eax, [ebx + P(AP_CR0)]}
    jmp far [ebx + P(AP_LM_PTR)]    ; to ap_lm64, CS = 64-bit code

bits 64
ap_lm64:
    mov ebx, ebx                    ; zero-extend: the upper half is undefined
    mov rdi, [rbx + P(AP_CPU)]
    mov rsi, [rbx + P(AP_STACK)]
    mov rdx, [rbx + P(AP_CR3)]
    mov rcx, [rbx + P(AP_ENTRY)]
    mov rax, ap_entry64
    jmp rax

align 8
ap_tramp_params:
    times 88 db 0
    ; The trampoline GDT: null, 32-bit code, 32-bit data, 64-bit code. The
    ; accessed bits are set already: the jump to 64-bit code happens with
    ; paging on and this page read-only, where a CPU that sets the bit itself
    ; (Bochs does) would take a page fault writing it.
    dq 0
    dq 0x00CF9B000000FFFF
    dq 0x00CF93000000FFFF
    dq 0x00AF9B000000FFFF
ap_tramp_end:

section .text
; rdi = struct cpu, rsi = stack top, rdx = kernel CR3, rcx = ap_main
global ap_entry64
ap_entry64:
    mov cr3, rdx
    mov rsp, rsi
    xor ebp, ebp
    call rcx
.hang:
    cli
    hlt
    jmp .hang

; LAPIC vectors: the same frame as isr.asm builds, into trap_dispatch.
extern isr_common
global lapic_isr_timer, lapic_isr_call, lapic_isr_spurious, lapic_isr_tlb
lapic_isr_timer:
    push qword 0
    push qword 0xF0
    jmp isr_common
lapic_isr_call:
    push qword 0
    push qword 0xF1
    jmp isr_common
lapic_isr_tlb:
    push qword 0
    push qword 0xF2
    jmp isr_common
; A spurious interrupt needs no EOI and no handler.
lapic_isr_spurious:
    iretq
