/* Host tests of the ELF loader (src/kern/elf.c) over the fake MMU: a good
 * image loads with the right permissions, and thousands of corrupted or
 * truncated ones are refused cleanly, never read outside the file, and leave
 * no frame behind. */
#include <pagoda/errno.h>
#include <pagoda/vm.h>
#include <stdlib.h>

#include "../../src/kern/elf_tiny.h"
#include "../../src/kern/proc.h"
#include "fake_mmu.h"
#include "harness.h"

static uint64_t file_size;
static bool oob;

static int rd(void *ctx, uint64_t off, void *dst, size_t n)
{
    if (off > file_size || n > file_size - off) {
        oob = true;
        return -1;
    }
    memcpy(dst, (uint8_t *)ctx + off, n);
    return 0;
}

static int load(struct elf_tiny *e, uint64_t size, struct vm_as *as, char *err)
{
    file_size = size;
    struct elf_reader r = {size, rd, e};
    vaddr_t entry, end;
    return elf_load(as, &r, &entry, &end, err, 128);
}

HTEST(elf_good_image_loads_w_x_apart)
{
    fake_vm_reset();
    struct vm_as as;
    CHECK_EQ(vm_as_init(&as, 100), 0);
    struct elf_tiny e = elf_tiny_good();
    char err[128] = "";
    oob = false;
    CHECK_EQ(load(&e, sizeof(e), &as, err), 0);
    CHECK(!oob);
    CHECK_EQ(as.nregions, 2);
    CHECK_EQ(as.r[0].prot, VM_R | VM_X);
    CHECK_EQ(as.r[1].prot, VM_R | VM_W);
    paddr_t pa;
    unsigned fl;
    CHECK_EQ(arch_mmu_query(as.mmu, 0x400000, &pa, &fl), 0);
    CHECK(!(fl & MMU_WRITE) && !(fl & MMU_NX));
    CHECK_EQ(fake_peek(&as, 0x400000 + offsetof(struct elf_tiny, code)), 0xeb);
    CHECK_EQ(arch_mmu_query(as.mmu, 0x600000, &pa, &fl), 0);
    CHECK((fl & MMU_WRITE) && (fl & MMU_NX));
    CHECK_EQ(fake_peek(&as, 0x600002), 'd');
    CHECK_EQ(arch_mmu_query(as.mmu, 0x601000, &pa, &fl), -E_NOENT); /* bss: on demand */
    vm_as_destroy(&as);
    CHECK_EQ(fake_frames_used(), 1);
}

/* Load size bytes of e into a fresh space, then destroy it: the loader's
 * result (-E_NOMEM when no space could be made), its message in err (128
 * bytes), oob set when it read outside the file, and *wx set when a region
 * it made was writable and executable at once. */
static int load_fresh(struct elf_tiny *e, uint64_t size, char *err, bool *wx)
{
    struct vm_as as;
    err[0] = 0;
    oob = false;
    *wx = false;
    if (vm_as_init(&as, 100))
        return -E_NOMEM;
    int rc = load(e, size, &as, err);
    for (unsigned i = 0; rc == 0 && i < as.nregions; i++)
        if ((as.r[i].prot & VM_W) && (as.r[i].prot & VM_X))
            *wx = true;
    vm_as_destroy(&as);
    return rc;
}

HTEST(elf_every_truncation_is_refused)
{
    fake_vm_reset();
    struct elf_tiny e = elf_tiny_good();
    for (uint64_t n = 0; n < sizeof(e); n++) {
        char err[128];
        bool wx;
        int rc = load_fresh(&e, n, err, &wx);
        if (rc != -E_INVAL || oob || !err[0]) {
            htest_fail(__FILE__, __LINE__, "truncated to %llu: rc %d, oob %d, '%s'",
                       (unsigned long long)n, rc, oob, err);
            return;
        }
    }
    CHECK_EQ(fake_frames_used(), 1);
}

HTEST(elf_random_corruption_never_reads_outside_the_file)
{
    fake_vm_reset();
    srand(12345);
    int loaded = 0, refused = 0;
    for (int it = 0; it < 20000; it++) {
        struct elf_tiny e = elf_tiny_good();
        uint8_t *b = (uint8_t *)&e;
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            b[rand() % sizeof(e)] = (uint8_t)rand();
        uint64_t size = rand() % 8 ? sizeof(e) : (uint64_t)(rand() % sizeof(e));
        char err[128];
        bool wx;
        int rc = load_fresh(&e, size, err, &wx);
        if (oob || (rc != 0 && rc != -E_INVAL) || (rc && !err[0])) {
            htest_fail(__FILE__, __LINE__, "iteration %d: rc %d, oob %d, '%s'", it, rc, oob, err);
            return;
        }
        rc ? refused++ : loaded++;
        CHECK(!wx);
    }
    CHECK(loaded > 100 && refused > 1000); /* both sides were exercised */
    CHECK_EQ(fake_frames_used(), 1);
}
