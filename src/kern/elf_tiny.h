/*
 * A tiny valid ELF64 executable, built in memory, for the tests of the ELF
 * loader (elf.c): the in-kernel ones (user_elf_ktest.c) and the host ones
 * (tests/host/test_elf.c) start from the same image and spoil it.
 *
 * The image is one file of sizeof(struct elf_tiny) bytes: the ELF header,
 * two PT_LOAD program headers and a few bytes of code and data:
 *   ph[0]  r-x at 0x400000, the whole file (so the entry point, `jmp .` at
 *          code[0], is in an executable segment);
 *   ph[1]  rw- at 0x600000, the 8 file bytes from code[0] (so 0x600002
 *          holds the 'd' of "data") and memory to 0x602000: the rest is
 *          bss, left to the region's backing.
 * The fields mirror elf.c's struct elf64_ehdr/elf64_phdr, packed, so that a
 * test can reach every one by name.
 */
#ifndef PAGODA_KERN_ELF_TINY_H
#define PAGODA_KERN_ELF_TINY_H

#include <pagoda/string.h>
#include <pagoda/types.h>
#include <stddef.h>

struct elf_tiny {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
    struct {
        uint32_t type, flags;
        uint64_t offset, vaddr, paddr, filesz, memsz, align;
    } ph[2];
    uint8_t code[40];
} __attribute__((packed));

/* The good image described above; every call returns the same bytes. */
static inline struct elf_tiny elf_tiny_good(void)
{
    struct elf_tiny e;
    memset(&e, 0, sizeof(e));
    memcpy(e.ident,
           "\x7f"
           "ELF\x02\x01\x01",
           7);
    e.type = 2;     /* ET_EXEC */
    e.machine = 62; /* EM_X86_64 */
    e.version = 1;
    e.entry = 0x400000 + offsetof(struct elf_tiny, code);
    e.phoff = offsetof(struct elf_tiny, ph);
    e.ehsize = 64;
    e.phentsize = 56;
    e.phnum = 2;
    e.ph[0] = (typeof(e.ph[0])){1, 5, 0, 0x400000, 0, sizeof(e), sizeof(e), 4096};
    e.ph[1] =
        (typeof(e.ph[1])){1, 6, offsetof(struct elf_tiny, code), 0x600000, 0, 8, 0x2000, 4096};
    memcpy(e.code,
           "\xeb\xfe"
           "data....",
           10);
    return e;
}

#endif
