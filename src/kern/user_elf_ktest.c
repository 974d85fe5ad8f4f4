/*
 * In-kernel tests of the ELF loader's refusals (`test=user_`): the tiny good
 * image of elf_tiny.h loads, and each of twenty spoiled copies of it is
 * refused with -E_INVAL and a message that says why, leaving no frame
 * behind. The host tests (tests/host/test_elf.c) fuzz the same image.
 */
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/string.h>

#include "elf_tiny.h"
#include "proc.h"
#include "user_ktest.h"

static int buf_read(void *ctx, uint64_t off, void *dst, size_t n)
{
    memcpy(dst, (const uint8_t *)ctx + off, n);
    return 0;
}

static int try_load(struct elf_tiny *e, uint64_t size, char *err, size_t errlen)
{
    struct vm_as as;
    if (vm_as_init(&as, 64))
        return -E_NOMEM;
    struct elf_reader rd = {size, buf_read, e};
    vaddr_t entry, end;
    err[0] = 0;
    int rc = elf_load(&as, &rd, &entry, &end, err, errlen);
    vm_as_destroy(&as);
    return rc;
}

/* Spoil a good image in way i; returns the size to load, what the error
 * must mention, or 0 past the last way. */
static uint64_t spoil(struct elf_tiny *e, int i, const char **says)
{
    uint64_t size = sizeof(*e);
    switch (i) {
    case 0:
        size = 10;
        *says = "truncated";
        break;
    case 1:
        e->ident[1] = 'X';
        *says = "magic";
        break;
    case 2:
        e->ident[4] = 1;
        *says = "ELF64";
        break;
    case 3:
        e->type = 3;
        *says = "static";
        break;
    case 4:
        e->machine = 3;
        *says = "x86_64";
        break;
    case 5:
        e->phnum = 0;
        *says = "program headers";
        break;
    case 6:
        e->phnum = 200;
        *says = "program headers";
        break;
    case 7:
        e->phoff = 1ull << 62;
        *says = "truncated";
        break;
    case 8:
        size = offsetof(struct elf_tiny, ph[1]);
        *says = "truncated";
        break;
    case 9:
        e->ph[0].flags = 7;
        *says = "W^X";
        break;
    case 10:
        e->ph[0].filesz = e->ph[0].memsz + 1;
        *says = "inconsistent";
        break;
    case 11:
        e->ph[0].offset = 8;
        *says = "truncated";
        break;
    case 12:
        e->ph[0].offset = ~0ull - 4;
        *says = "truncated";
        break;
    case 13:
        e->ph[0].vaddr = 0xffffffff80000000ull;
        *says = "outside";
        break;
    case 14:
        e->ph[0].vaddr = 0;
        *says = "outside";
        break;
    case 15:
        e->ph[1].memsz = ~0ull - 0x1000;
        *says = "inconsistent";
        break;
    case 16:
        e->entry = 0x600000;
        *says = "entry point";
        break;
    case 17:
        e->ph[1].type = 3;
        *says = "dynamic";
        break;
    case 18:
        e->ph[1].vaddr = 0x400000;
        *says = "overlaps";
        break;
    case 19:
        e->ehsize = 52;
        *says = "header sizes";
        break;
    default:
        return 0;
    }
    return size;
}

KTEST(user_elf_rejects)
{
    uint64_t free0 = proc_free_frames();
    char err[128];
    struct elf_tiny e = elf_tiny_good();
    KT_ASSERT_EQ(try_load(&e, sizeof(e), err, sizeof(err)), 0);
    int n = 0;
    for (int i = 0;; i++) {
        const char *says = "";
        e = elf_tiny_good();
        uint64_t size = spoil(&e, i, &says);
        if (!size)
            break;
        int rc = try_load(&e, size, err, sizeof(err));
        if (rc != -E_INVAL || !user_kt_contains(err, says)) {
            ktest_fail(__FILE__, __LINE__, "spoiled ELF %d: rc %d, '%s' (wanted '%s')", i, rc, err,
                       says);
            return;
        }
        n++;
    }
    KT_ASSERT_EQ(n, 20);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}
