; The 32-bit trampoline: from GRUB's protected mode to C in the higher half.
;
; GRUB enters _start in 32-bit protected mode with paging off, interrupts off,
; EAX = Multiboot2 magic, EBX = physical address of the boot information, no
; stack, and a GDT we must not trust. Step by step:
;
;   1. Take a small low stack and save EAX/EBX before CPUID clobbers them.
;   2. Refuse anything we cannot run on, with a message on VGA and COM1:
;      a loader that is not Multiboot2, no CPUID, no extended CPUID, no long
;      mode. Then halt for good: never a triple fault or a reboot loop.
;   3. Build the first page tables with 2 MiB pages:
;        PML4[0]   -> identity map of physical 0..4 GiB (GRUB puts the boot
;                     info, the modules and the ELF symbols below 4 GiB);
;        PML4[510] -> the PML4 itself (the recursive slot the VMM uses),
;        no-execute when the CPU has NX: the window holds only tables;
;        PML4[511] -> PDPT[510] -> physical 0..1 GiB at 0xffffffff80000000,
;                     the -mcmodel=kernel window the kernel is linked in.
;   4. CR4.PAE, CR3, EFER.LME (and EFER.NXE only when CPUID has NX), then
;      CR0.PG|WP (LONGMODE_ENTER, boot/longmode.inc): compatibility mode.
;   5. Load a 64-bit GDT, far-jump into 64-bit code, jump to the higher half,
;      take the boot stack and call kmain(magic, mbi_phys).
;
; The identity map and the 2 MiB kernel window are temporary: the VMM replaces
; them with 4 KiB mappings from the linker symbols, W^X.

KERNEL_VMA      equ 0xffffffff80000000
MB2_BOOT_MAGIC  equ 0x36D76289

CPUID_EXT_LM    equ 1 << 29
CPUID_EXT_NX    equ 1 << 20

PTE_P           equ 1 << 0
PTE_W           equ 1 << 1
PTE_PS          equ 1 << 7

COM1            equ 0x3F8

%include "longmode.inc"

; How the boot CPU gets each value LONGMODE_ENTER writes (each is expanded
; once, in _start, so .no_nx is one of _start's local labels).
%macro boot_cr4 0
    mov eax, cr4
    or eax, CR4_PAE
%endmacro
%macro boot_efer 0
    rdmsr
    or eax, EFER_LME
    test dword [boot_cpu_ext_edx], CPUID_EXT_NX
    jz .no_nx
    or eax, EFER_NXE
.no_nx:
%endmacro
%macro boot_cr0 0
    mov eax, cr0
    or eax, CR0_PG | CR0_WP | CR0_PE
%endmacro

extern kmain
extern boot_stack_top
global _start
global boot_mb2_magic
global boot_mb2_info
global boot_pml4

section .boot.text
bits 32
_start:
    cli
    cld
    mov esp, boot_stack32_top
    mov [boot_mb2_magic], eax
    mov [boot_mb2_info], ebx

    cmp eax, MB2_BOOT_MAGIC
    jne .no_multiboot2

    ; CPUID exists if EFLAGS.ID (bit 21) can be flipped.
    pushfd
    pop eax
    mov ecx, eax
    xor eax, 1 << 21
    push eax
    popfd
    pushfd
    pop eax
    push ecx
    popfd
    xor eax, ecx
    jz .no_cpuid

    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb .no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, CPUID_EXT_LM
    jz .no_long_mode
    mov [boot_cpu_ext_edx], edx

    call build_page_tables

    ; Long mode (boot/longmode.inc) with the tables just built: PAE and PG
    ; set on what GRUB left in CR4 and CR0, NXE only where CPUID has NX.
    LONGMODE_ENTER boot_cr4, {mov eax, boot_pml4}, boot_efer, boot_cr0

    lgdt [gdt64_ptr]
    jmp 0x08:long_mode_low

.no_multiboot2:
    mov esi, msg_no_mb2
    jmp boot_fail
.no_cpuid:
    mov esi, msg_no_cpuid
    jmp boot_fail
.no_long_mode:
    mov esi, msg_no_lm
    jmp boot_fail

; Zero the tables (GRUB zero-fills .bss, but this code may also be entered
; by hand from a debugger), then fill them as described at the top.
build_page_tables:
    mov edi, boot_tables_start
    mov ecx, (boot_tables_end - boot_tables_start) / 4
    xor eax, eax
    rep stosd

    mov dword [boot_pml4 + 0 * 8], boot_pdpt_low + (PTE_P | PTE_W)
    mov dword [boot_pml4 + 510 * 8], boot_pml4 + (PTE_P | PTE_W)
    ; The recursive window shows every table at a fixed address: it must
    ; never be executable. Bit 63 (NX) only where NX exists: elsewhere it is
    ; a reserved bit, and the first walk through it would fault.
    test dword [boot_cpu_ext_edx], CPUID_EXT_NX
    jz .window_nx_done
    mov dword [boot_pml4 + 510 * 8 + 4], 0x80000000
.window_nx_done:
    mov dword [boot_pml4 + 511 * 8], boot_pdpt_high + (PTE_P | PTE_W)

    ; PDPT_low[0..3] -> the four page directories (4 GiB identity).
    mov dword [boot_pdpt_low + 0 * 8], boot_pd + 0 * 4096 + (PTE_P | PTE_W)
    mov dword [boot_pdpt_low + 1 * 8], boot_pd + 1 * 4096 + (PTE_P | PTE_W)
    mov dword [boot_pdpt_low + 2 * 8], boot_pd + 2 * 4096 + (PTE_P | PTE_W)
    mov dword [boot_pdpt_low + 3 * 8], boot_pd + 3 * 4096 + (PTE_P | PTE_W)
    ; PDPT_high[510] -> the first directory again: the kernel window.
    mov dword [boot_pdpt_high + 510 * 8], boot_pd + (PTE_P | PTE_W)

    ; 2048 2 MiB pages covering 0..4 GiB.
    mov edi, boot_pd
    mov eax, PTE_P | PTE_W | PTE_PS
    mov ecx, 2048
.fill:
    mov [edi], eax
    mov dword [edi + 4], 0
    add eax, 0x200000
    add edi, 8
    loop .fill
    ret

; Print the NUL-terminated message at ESI on VGA (white on red, top line)
; and on COM1 if one answers, then halt forever.
boot_fail:
    ; VGA: clear the first line, then write the message.
    mov edi, 0xB8000
    mov ecx, 80
    mov ax, 0x4F20
    rep stosw
    mov edi, 0xB8000
    push esi
.vga:
    lodsb
    test al, al
    jz .vga_done
    mov ah, 0x4F
    stosw
    jmp .vga
.vga_done:
    pop esi

    ; COM1 at 115200 8N1. A missing UART reads back 0xFF from the scratch
    ; register; skip it rather than spin.
    mov dx, COM1 + 7
    mov al, 0x5A
    out dx, al
    in al, dx
    cmp al, 0x5A
    jne .halt
    mov dx, COM1 + 1
    xor al, al
    out dx, al              ; no interrupts
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al              ; DLAB
    mov dx, COM1 + 0
    mov al, 1
    out dx, al              ; divisor 1 = 115200
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al              ; 8N1
    mov dx, COM1 + 2
    mov al, 0xC7
    out dx, al              ; FIFO on
.serial:
    lodsb
    test al, al
    jz .drain
    mov bl, al
    mov ecx, 100000
.wait_thre:
    mov dx, COM1 + 5
    in al, dx
    test al, 0x20
    jnz .put
    loop .wait_thre
    jmp .halt
.put:
    mov dx, COM1
    mov al, bl
    out dx, al
    jmp .serial
.drain:
    mov ecx, 100000
.wait_temt:
    mov dx, COM1 + 5
    in al, dx
    test al, 0x40
    jnz .halt
    loop .wait_temt
.halt:
    cli
    hlt
    jmp .halt

bits 64
long_mode_low:
    LOAD_DATA_SEGMENTS 0x10
    mov rax, long_mode_high
    jmp rax

section .boot.data
align 8
boot_mb2_magic:   dd 0
boot_mb2_info:    dd 0
boot_cpu_ext_edx: dd 0

align 8
gdt64:
    dq 0
    dq 0x00AF9A000000FFFF   ; 0x08: 64-bit kernel code
    dq 0x00CF92000000FFFF   ; 0x10: kernel data
gdt64_end:
gdt64_ptr:
    dw gdt64_end - gdt64 - 1
    dd gdt64

msg_no_mb2:   db "Pagoda: not loaded by a Multiboot2 boot loader (use GRUB's multiboot2 command). Halted.", 13, 10, 0
msg_no_cpuid: db "Pagoda needs a 64-bit (x86_64) CPU: this CPU has no CPUID. Halted.", 13, 10, 0
msg_no_lm:    db "Pagoda needs a 64-bit (x86_64) CPU: this CPU has no long mode. Halted.", 13, 10, 0

section .boot.bss nobits alloc write
align 4096
boot_tables_start:
boot_pml4:      resb 4096
boot_pdpt_low:  resb 4096
boot_pdpt_high: resb 4096
boot_pd:        resb 4 * 4096
boot_tables_end:
                resb 4096
boot_stack32_top:

section .text.entry
bits 64
long_mode_high:
    mov rsp, boot_stack_top
    xor ebp, ebp            ; a zero frame pointer ends backtraces
    mov edi, [abs boot_mb2_magic]
    mov esi, [abs boot_mb2_info]
    call kmain
.hang:
    cli
    hlt
    jmp .hang
