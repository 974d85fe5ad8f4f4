/*
 * The ELF64 loader for user programs: validate everything, then map.
 *
 * Only static x86_64 executables (ET_EXEC) are accepted. Every field the
 * loader uses is checked against the file's real size before it is used,
 * in 64-bit arithmetic that cannot wrap: the header, the program-header
 * table, and each PT_LOAD segment (file range inside the file, memory range
 * inside [USER_IMAGE_MIN, USER_IMAGE_MAX), filesz <= memsz, never writable
 * and executable at once). A dynamic, interpreted or TLS-using program is
 * refused, and so is an entry point outside every executable segment.
 * Segments become regions of their own (code r-x, rodata r--, data rw-),
 * so overlapping segments fail as overlapping regions. Only then are the
 * file's bytes copied in, page by page, through vm_write_page; the rest of
 * each segment (bss) is left to the region's backing: zero page for data,
 * demand for code.
 *
 * A refusal returns -E_INVAL with one line saying why; nothing in a file
 * can make the kernel fault, because it is only ever read into buffers.
 */
#include <pagoda/errno.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "proc.h"

#define EI_NIDENT 16
#define ET_EXEC 2
#define EM_X86_64 62
#define PT_LOAD 1
#define PT_DYNAMIC 2
#define PT_INTERP 3
#define PT_TLS 7
#define PF_X 1
#define PF_W 2
#define PF_R 4
#define ELF_MAX_PHDRS 16
#define ELF_MAX_SEGMENT (64ULL << 20)

struct elf64_ehdr {
    uint8_t ident[EI_NIDENT];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf64_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64 && sizeof(struct elf64_phdr) == 56, "ELF64 layouts");

#define REFUSE(...)                                                                                \
    do {                                                                                           \
        ksnprintf(err, errlen, __VA_ARGS__);                                                       \
        return -E_INVAL;                                                                           \
    } while (0)

static int check_header(const struct elf64_ehdr *h, uint64_t size, char *err, size_t errlen)
{
    if (memcmp(h->ident,
               "\x7f"
               "ELF",
               4) != 0)
        REFUSE("bad magic: not an ELF file");
    if (h->ident[4] != 2 || h->ident[5] != 1 || h->ident[6] != 1)
        REFUSE("not a little-endian ELF64 file of version 1");
    if (h->type != ET_EXEC)
        REFUSE("type %u: only static executables (ET_EXEC) run", h->type);
    if (h->machine != EM_X86_64 || h->version != 1)
        REFUSE("machine %u: not an x86_64 executable", h->machine);
    if (h->ehsize != sizeof(*h) || h->phentsize != sizeof(struct elf64_phdr))
        REFUSE("header sizes %u/%u are not ELF64's 64/56", h->ehsize, h->phentsize);
    if (h->phnum == 0 || h->phnum > ELF_MAX_PHDRS)
        REFUSE("%u program headers (1..%d)", h->phnum, ELF_MAX_PHDRS);
    if (h->phoff > size || (uint64_t)h->phnum * sizeof(struct elf64_phdr) > size - h->phoff)
        REFUSE("truncated: the program headers run past the end of the file (%llu bytes)",
               (unsigned long long)size);
    return 0;
}

static int check_segment(unsigned i, const struct elf64_phdr *ph, uint64_t size, char *err,
                         size_t errlen)
{
    if (ph->type == PT_DYNAMIC || ph->type == PT_INTERP)
        REFUSE("segment %u: dynamic linking is not supported (static programs only)", i);
    if (ph->type == PT_TLS)
        REFUSE("segment %u: thread-local storage is not supported", i);
    if (ph->type != PT_LOAD)
        return 0;
    if ((ph->flags & PF_W) && (ph->flags & PF_X))
        REFUSE("segment %u is writable and executable (W^X)", i);
    if (ph->memsz == 0 && ph->filesz == 0)
        return 0; /* an empty segment maps nothing */
    if (ph->filesz > ph->memsz || ph->memsz > ELF_MAX_SEGMENT)
        REFUSE("segment %u: sizes file %llu / memory %llu are inconsistent", i,
               (unsigned long long)ph->filesz, (unsigned long long)ph->memsz);
    if (ph->offset > size || ph->filesz > size - ph->offset)
        REFUSE("truncated: segment %u's bytes run past the end of the file", i);
    if (ph->vaddr < USER_IMAGE_MIN || ph->vaddr > USER_IMAGE_MAX ||
        ph->memsz > USER_IMAGE_MAX - ph->vaddr)
        REFUSE("segment %u at 0x%llx+0x%llx is outside the user image area [0x%llx, 0x%llx)", i,
               (unsigned long long)ph->vaddr, (unsigned long long)ph->memsz,
               (unsigned long long)USER_IMAGE_MIN, (unsigned long long)USER_IMAGE_MAX);
    return 0;
}

int elf_load(struct vm_as *as, const struct elf_reader *rd, vaddr_t *entry, vaddr_t *image_end,
             char *err, size_t errlen)
{
    struct elf64_ehdr h;
    struct elf64_phdr ph[ELF_MAX_PHDRS];
    static uint8_t buf[PAGE_SIZE];

    if (rd->size < sizeof(h))
        REFUSE("truncated: %llu bytes, and an ELF64 header takes 64", (unsigned long long)rd->size);
    rd->read(rd->ctx, 0, &h, sizeof(h));
    int rc = check_header(&h, rd->size, err, errlen);
    if (rc)
        return rc;
    rd->read(rd->ctx, h.phoff, ph, h.phnum * sizeof(ph[0]));

    bool entry_ok = false, any = false;
    vaddr_t end = 0;
    for (unsigned i = 0; i < h.phnum; i++) {
        if ((rc = check_segment(i, &ph[i], rd->size, err, errlen)))
            return rc;
        if (ph[i].type != PT_LOAD || ph[i].memsz == 0)
            continue;
        any = true;
        if ((ph[i].flags & PF_X) && h.entry >= ph[i].vaddr && h.entry < ph[i].vaddr + ph[i].memsz)
            entry_ok = true;
        end = MAX(end, ALIGN_UP(ph[i].vaddr + ph[i].memsz, PAGE_SIZE));
    }
    if (!any)
        REFUSE("no loadable segment");
    if (!entry_ok)
        REFUSE("entry point 0x%llx is not in an executable segment", (unsigned long long)h.entry);

    for (unsigned i = 0; i < h.phnum; i++) {
        const struct elf64_phdr *p = &ph[i];
        if (p->type != PT_LOAD || p->memsz == 0)
            continue;
        unsigned prot = VM_R | (p->flags & PF_W ? VM_W : 0) | (p->flags & PF_X ? VM_X : 0);
        vaddr_t lo = ALIGN_DOWN(p->vaddr, PAGE_SIZE), hi = ALIGN_UP(p->vaddr + p->memsz, PAGE_SIZE);
        rc = vm_region_add(as, lo, hi, prot, prot & VM_X ? VM_BACK_DEMAND : VM_BACK_ZERO,
                           prot & VM_X ? VM_CODE : VM_DATA);
        if (rc == -E_EXIST)
            REFUSE("segment %u overlaps another one (at page granularity)", i);
        if (rc)
            REFUSE("segment %u: cannot add a region (%s)", i, err_name(rc));
    }
    for (unsigned i = 0; i < h.phnum; i++) {
        const struct elf64_phdr *p = &ph[i];
        if (p->type != PT_LOAD || p->memsz == 0)
            continue;
        for (uint64_t done = 0; done < p->filesz;) {
            vaddr_t va = p->vaddr + done;
            size_t n = (size_t)MIN(p->filesz - done, PAGE_SIZE - (va & PAGE_MASK));
            rd->read(rd->ctx, p->offset + done, buf, n);
            if (vm_write_page(as, va, buf, n))
                REFUSE("out of memory while loading segment %u", i);
            done += n;
        }
    }
    *entry = h.entry;
    *image_end = end;
    return 0;
}
