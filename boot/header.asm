; The Multiboot2 header. GRUB looks for it in the first 32 KiB of the file,
; 8-byte aligned; every tag starts on an 8-byte boundary and the list ends
; with the end tag (type 0, size 8).
;
; The framebuffer tag (type 5) is marked optional: on UEFI, GRUB's
; framebuffer is the only screen there is, and without this tag GRUB hands
; over no console at all ("no console will be available to OS"). On BIOS,
; grub.cfg keeps VGA text (gfxpayload=text) unless the framebuffer entry
; asks for a mode. Width, height and depth 0 mean "no preference": grub.cfg
; (gfxpayload) or the firmware's current mode decide.

MB2_MAGIC       equ 0xE85250D6
MB2_ARCH_I386   equ 0
MB2_TAG_FB      equ 5
MB2_TAG_OPTIONAL equ 1

section .multiboot2
align 8
mb2_header:
    dd MB2_MAGIC
    dd MB2_ARCH_I386
    dd mb2_header_end - mb2_header
    dd 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))

    ; Framebuffer request: 20 bytes, then padding to the next 8-byte boundary
    ; (GRUB refuses an unpadded odd-sized tag with "unsupported tag").
    align 8
    dw MB2_TAG_FB
    dw MB2_TAG_OPTIONAL
    dd 20
    dd 0                ; width: no preference
    dd 0                ; height: no preference
    dd 0                ; depth: no preference

    ; End tag.
    align 8
    dw 0
    dw 0
    dd 8
mb2_header_end:
