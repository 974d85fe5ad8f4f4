#!/usr/bin/env python3
"""Write the seed corpus of the mb2 fuzzer (tests/fuzz/corpus/mb2/): a few
Multiboot2 info blocks shaped like GRUB's on QEMU/SeaBIOS, q35 and Bochs,
with modules, ELF sections, a framebuffer, RSDP, and some broken ones.
Deterministic: re-running it rewrites the same bytes."""
import os
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/mb2"
os.makedirs(out, exist_ok=True)


def tag(t, body):
    b = struct.pack("<II", t, 8 + len(body)) + body
    return b + b"\0" * (-len(b) % 8)


def string(t, s):
    return tag(t, s.encode() + b"\0")


def mmap(entries, esize=24):
    body = struct.pack("<II", esize, 0)
    for base, length, typ in entries:
        e = struct.pack("<QQII", base, length, typ, 0)
        body += e + b"\xa5" * (esize - 24)
    return tag(6, body)


def module(start, end, name):
    return tag(3, struct.pack("<II", start, end) + name.encode() + b"\0")


def info(*tags, end=True, reserved=0):
    body = b"".join(tags) + (tag(0, b"") if end else b"")
    return struct.pack("<II", 8 + len(body), reserved) + body


def elf_sections():
    K = 0xFFFFFFFF80000000
    shdrs = [(0, 0, 0, 0), (1, 6, K + 0x101000, 0x5000), (1, 2, K + 0x106000, 0x2000),
             (1, 3, K + 0x108000, 0x1000), (8, 3, K + 0x109000, 0x6000), (2, 0, 0x120000, 0x800)]
    body = struct.pack("<III", len(shdrs), 64, 5)
    for typ, flags, addr, size in shdrs:
        body += struct.pack("<IIQQQQIIQQ", 0, typ, flags, addr, 0, size, 0, 0, 8, 0)
    return tag(9, body)


qemu = [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2), (0x100000, 0x7EE0000, 1),
        (0x7FE0000, 0x20000, 2), (0xFFFC0000, 0x40000, 2), (0xFD00000000, 0x300000000, 2)]
q35 = [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2), (0x100000, 0x7FEE0000, 1),
       (0x7FFE0000, 0x20000, 2), (0xB0000000, 0x10000000, 2), (0xFFFC0000, 0x40000, 2),
       (0x100000000, 0x80000000, 1), (0xFD00000000, 0x300000000, 2)]
bochs = [(0, 0x9F000, 1), (0x9F000, 0x1000, 2), (0xE8000, 0x18000, 2), (0x100000, 0x7EF0000, 1),
         (0x7FF0000, 0x10000, 3), (0xFFFC0000, 0x40000, 2)]
messy = [(0x500123, 0x100EDD, 1), (0x300000, 0x1000, 2), (0x200000, 0x200000, 1),
         (0x380800, 0x100, 5), (0x3FF000, 0x2000, 3), (0x3FF800, 0x100, 4), (0x600000, 0, 1),
         (0xFFFFFFFFFFFF0000, 0x20000, 1), (0x700000, 0x1000, 9)]
prologue = tag(21, struct.pack("<I", 0x100000)) + string(1, "test=mb2_") + \
    string(2, "GRUB 2.06-13+deb12u2")
fb_text = tag(8, struct.pack("<QIIIBBH", 0xB8000, 160, 80, 25, 16, 2, 0))
fb_rgb = tag(8, struct.pack("<QIIIBBH6B", 0xFD000000, 4096, 1024, 768, 32, 1, 0,
                            16, 8, 8, 8, 0, 8))
rsdp = tag(14, b"RSD PTR \x11BOCHS \x00\x00\x00\x00\x00\x00")

seeds = {
    "qemu-seabios": info(prologue, module(0x110000, 0x111234, "a.bin"),
                         module(0x112000, 0x112800, "b.bin"), mmap(qemu), elf_sections(),
                         tag(4, struct.pack("<II", 639, 130048)), fb_text, rsdp),
    "q35-esize32": info(prologue, mmap(q35, 32), fb_rgb),
    "bochs-esize48": info(prologue, mmap(bochs, 48), tag(4, struct.pack("<II", 636, 130048))),
    "messy-map": info(prologue, mmap(messy), module(0x10F000, 0x110000, "next"),
                      module(0x104000, 0x104800, "inside"), reserved=0x201000),
    "meminfo-only": info(prologue, tag(4, struct.pack("<II", 639, 130048))),
    "no-end-bad-esize": info(prologue, tag(4, struct.pack("<II", 639, 130048)),
                             mmap(qemu, 28), end=False),
    "efi-smbios": info(prologue, tag(12, struct.pack("<Q", 0x7F000000)),
                       tag(13, bytes([3, 0]) + b"\0" * 6 + b"_SM3_" + b"\0" * 19),
                       tag(15, b"RSD PTR " + b"\0" * 28), mmap(qemu)),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
