; The Multiboot2 header. GRUB looks for it in the first 32 KiB of the file,
; 8-byte aligned; every tag starts on an 8-byte boundary and the list ends
; with the end tag (type 0, size 8). We ask for nothing: no framebuffer tag
; means GRUB leaves the screen in VGA text mode, which our console uses.

MB2_MAGIC       equ 0xE85250D6
MB2_ARCH_I386   equ 0

section .multiboot2
align 8
mb2_header:
    dd MB2_MAGIC
    dd MB2_ARCH_I386
    dd mb2_header_end - mb2_header
    dd 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))

    ; End tag.
    align 8
    dw 0
    dw 0
    dd 8
mb2_header_end:
