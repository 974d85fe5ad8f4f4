/*
 * In-kernel tests of user mode: the ELF loader's refusals, system-call
 * pointer checks, the zero page, copy-on-write, and whole programs (they
 * need the program modules; without them the program tests say "skipped").
 * Every test checks that the PMM's free count comes back exactly.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <arch/mmu.h>
#include <arch/user.h>
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>
#include <pagoda/vmm.h>

#include "proc.h"

/* ---- a tiny valid ELF, and broken variants of it ------------------------ */

struct tiny_elf {
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
    uint8_t code[16];
} __attribute__((packed));

static struct tiny_elf good(void)
{
    struct tiny_elf e;
    memset(&e, 0, sizeof(e));
    memcpy(e.ident,
           "\x7f"
           "ELF\x02\x01\x01",
           7);
    e.type = 2;
    e.machine = 62;
    e.version = 1;
    e.entry = 0x400000 + offsetof(struct tiny_elf, code);
    e.phoff = offsetof(struct tiny_elf, ph);
    e.ehsize = 64;
    e.phentsize = 56;
    e.phnum = 2;
    e.ph[0].type = 1;
    e.ph[0].flags = 5; /* r-x */
    e.ph[0].vaddr = 0x400000;
    e.ph[0].filesz = e.ph[0].memsz = sizeof(e);
    e.ph[1].type = 1;
    e.ph[1].flags = 6; /* rw- */
    e.ph[1].vaddr = 0x600000;
    e.ph[1].memsz = 0x2000;
    e.code[0] = 0xeb; /* jmp . */
    e.code[1] = 0xfe;
    return e;
}

static bool strstr_(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncmp(hay, needle, n) == 0)
            return true;
    return n == 0;
}

static int buf_read(void *ctx, uint64_t off, void *dst, size_t n)
{
    memcpy(dst, (const uint8_t *)ctx + off, n);
    return 0;
}

static int try_load(struct tiny_elf *e, uint64_t size, char *err, size_t errlen)
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
static uint64_t spoil(struct tiny_elf *e, int i, const char **says)
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
        size = offsetof(struct tiny_elf, ph[1]);
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
    struct tiny_elf e = good();
    KT_ASSERT_EQ(try_load(&e, sizeof(e), err, sizeof(err)), 0);
    int n = 0;
    for (int i = 0;; i++) {
        const char *says = "";
        e = good();
        uint64_t size = spoil(&e, i, &says);
        if (!size)
            break;
        int rc = try_load(&e, size, err, sizeof(err));
        if (rc != -E_INVAL || !strstr_(err, says)) {
            ktest_fail(__FILE__, __LINE__, "spoiled ELF %d: rc %d, '%s' (wanted '%s')", i, rc, err,
                       says);
            return;
        }
        n++;
    }
    KT_ASSERT_EQ(n, 20);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

/* ---- a process that is never run, for pointer checks -------------------- */

static bool fake_proc(struct proc *p)
{
    memset(p, 0, sizeof(*p));
    p->pid = 99;
    kstrlcpy(p->name, "fake", sizeof(p->name));
    if (vm_as_init(&p->as, 64))
        return false;
    p->has_as = true;
    p->heap_base = p->brk = 0x800000;
    return vm_region_add(&p->as, 0x400000, 0x401000, VM_R | VM_X, VM_BACK_DEMAND, VM_CODE) == 0 &&
           vm_region_add(&p->as, USER_STACK_TOP - USER_STACK_MAX - USER_GUARD_GAP,
                         USER_STACK_TOP - USER_STACK_MAX, 0, VM_BACK_DEMAND, VM_GUARD) == 0 &&
           vm_region_add(&p->as, USER_STACK_TOP - USER_STACK_MAX, USER_STACK_TOP, VM_R | VM_W,
                         VM_BACK_DEMAND, VM_STACK) == 0;
}

KTEST(user_copy_checks)
{
    uint64_t free0 = proc_free_frames();
    struct proc p;
    KT_ASSERT(fake_proc(&p));
    bool irq = arch_irq_save();
    arch_mmu_activate(p.as.mmu);
    char b[64] = "abc";
    vaddr_t top = USER_STACK_TOP - 64;
    int r[8];
    r[0] = copy_to_user(&p, top, b, sizeof(b));                           /* fine */
    r[1] = copy_from_user(&p, b, 0, 8);                                   /* NULL */
    r[2] = copy_from_user(&p, b, 0xffffffff80100000ull, 8);               /* kernel */
    r[3] = copy_to_user(&p, 0x400000, b, 8);                              /* code: read-only */
    r[4] = copy_from_user(&p, b, USER_STACK_TOP - 8, 64);                 /* past the stack */
    r[5] = copy_from_user(&p, b, USER_STACK_TOP - USER_STACK_MAX - 8, 8); /* the guard gap */
    r[6] = copy_from_user(&p, b, ~0ull - 4, 16);                          /* wraps */
    r[7] = copy_from_user(&p, b, top, sizeof(b));                         /* fine */
    arch_mmu_activate(NULL);
    arch_irq_restore(irq);
    vm_as_destroy(&p.as);
    KT_ASSERT_EQ(r[0], 0);
    for (int i = 1; i < 7; i++)
        KT_ASSERT_EQ(r[i], -EFAULT);
    KT_ASSERT_EQ(r[7], 0);
    KT_ASSERT(strcmp(b, "abc") == 0);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_smap_guards_user_memory)
{
    /* With SMAP, the kernel reaches user pages only through arch_copy_user:
     * a plain access (the safe copy, so that it is caught) faults. */
    uint64_t free0 = proc_free_frames();
    struct proc p;
    KT_ASSERT(fake_proc(&p));
    bool smap = arch_user_smap_on();
    bool irq = arch_irq_save();
    arch_mmu_activate(p.as.mmu);
    char b[8] = "";
    vaddr_t top = USER_STACK_TOP - 64;
    int in = copy_to_user(&p, top, "smap", 5);
    int plain = arch_safe_copy(b, (const void *)top, 5);
    arch_mmu_activate(NULL);
    arch_irq_restore(irq);
    vm_as_destroy(&p.as);
    KT_ASSERT_EQ(in, 0);
    if (smap)
        KT_ASSERT_EQ(plain, -E_RANGE);
    else
        KT_ASSERT(plain == 0 && strcmp(b, "smap") == 0);
    printk("  (SMAP %s: a plain kernel read of user memory %s)\n", smap ? "on" : "absent",
           plain ? "faulted" : "worked");
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_syscall_checks)
{
    uint64_t free0 = proc_free_frames();
    struct proc p;
    KT_ASSERT(fake_proc(&p));
    bool irq = arch_irq_save();
    struct cpu *c = this_cpu();
    struct proc *was = c->proc;
    c->proc = &p;
    arch_mmu_activate(p.as.mmu);
    long r[10];
    r[0] = syscall_dispatch(SYS_WRITE, 1, 0, 10, 0, 0);
    r[1] = syscall_dispatch(SYS_WRITE, 1, 0xffffffff80100000ul, 10, 0, 0);
    r[2] = syscall_dispatch(SYS_MEMSTAT, 0, 0, 0, 0, 0);
    r[3] = syscall_dispatch(SYS_MEMSTAT, 0x400000, 0, 0, 0, 0);
    r[4] = syscall_dispatch(SYS_WAIT, 0xffff800000000000ul, 0, 0, 0, 0);
    r[5] = syscall_dispatch(SYS_MMAP, 0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_ANON, 0);
    r[6] = syscall_dispatch(SYS_MUNMAP, 0x400000, 4096, 0, 0, 0);
    r[7] = syscall_dispatch(SYS_BRK, 0x800000 + (1ul << 40), 0, 0, 0, 0);
    r[8] = syscall_dispatch(999, 0, 0, 0, 0, 0);
    r[9] = syscall_dispatch(SYS_WRITE, 1, USER_STACK_TOP - 4, 8, 0, 0);
    arch_mmu_activate(NULL);
    c->proc = was;
    arch_irq_restore(irq);
    vm_as_destroy(&p.as);
    KT_ASSERT_EQ(r[0], -EFAULT);
    KT_ASSERT_EQ(r[1], -EFAULT);
    KT_ASSERT_EQ(r[2], -EFAULT);
    KT_ASSERT_EQ(r[3], -EFAULT);
    KT_ASSERT_EQ(r[4], -EFAULT);
    KT_ASSERT_EQ(r[5], -EINVAL);
    KT_ASSERT_EQ(r[6], -EINVAL);
    KT_ASSERT_EQ(r[7], -ENOMEM);
    KT_ASSERT_EQ(r[8], -ENOSYS);
    KT_ASSERT_EQ(r[9], -EFAULT);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

/* ---- the VM policy on real page tables ----------------------------------- */

KTEST(user_zero_page_accounting)
{
    uint64_t free0 = proc_free_frames();
    struct vm_as as;
    KT_ASSERT_EQ(vm_as_init(&as, 1000), 0);
    const vaddr_t h = 0x10000000;
    KT_ASSERT_EQ(vm_region_add(&as, h, h + 64 * PAGE_SIZE, VM_R | VM_W, VM_BACK_ZERO, VM_HEAP), 0);
    for (int i = 0; i < 64; i++)
        KT_ASSERT_EQ(vm_fault(&as, h + i * PAGE_SIZE, VM_ACC_READ), 0);
    struct vm_usage u;
    vm_usage(&as, NULL, &u);
    KT_ASSERT_EQ(u.zero, 64);
    KT_ASSERT_EQ(u.resident, 0);
    KT_ASSERT_EQ(as.frames, 0);
    uint64_t free_reads = proc_free_frames(); /* only page tables were spent */
    KT_ASSERT(free0 - free_reads <= 4);
    for (int i = 0; i < 64; i++)
        KT_ASSERT_EQ(vm_fault(&as, h + i * PAGE_SIZE + 7, VM_ACC_WRITE), 0);
    vm_usage(&as, NULL, &u);
    KT_ASSERT_EQ(u.zero, 0);
    KT_ASSERT_EQ(u.resident, 64);
    KT_ASSERT_EQ(as.c.zero_breaks, 64);
    KT_ASSERT_EQ(free_reads - proc_free_frames(), 64);
    KT_ASSERT_EQ(vm_fault(&as, h + 64 * PAGE_SIZE, VM_ACC_READ), -VMF_NOREGION);
    KT_ASSERT_EQ(vm_fault(&as, h, VM_ACC_EXEC), -VMF_PROT);
    vm_as_destroy(&as);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

static char page_byte(struct vm_as *as, vaddr_t va)
{
    paddr_t pa;
    unsigned fl;
    char c = 0;
    if (arch_mmu_query(as->mmu, va, &pa, &fl) == 0)
        arch_frame_read(pa, va & PAGE_MASK, &c, 1);
    return c;
}

KTEST(user_cow_isolation)
{
    uint64_t free0 = proc_free_frames();
    struct vm_as a, b;
    KT_ASSERT_EQ(vm_as_init(&a, 1000), 0);
    KT_ASSERT_EQ(vm_as_init(&b, 1000), 0);
    const vaddr_t d = 0x20000000;
    KT_ASSERT_EQ(vm_region_add(&a, d, d + 4 * PAGE_SIZE, VM_R | VM_W, VM_BACK_DEMAND, VM_DATA), 0);
    for (int i = 0; i < 4; i++)
        KT_ASSERT_EQ(vm_write_page(&a, d + i * PAGE_SIZE, "A", 1), 0);
    uint64_t free_a = proc_free_frames();
    KT_ASSERT_EQ(vm_as_fork(&b, &a), 0);
    struct vm_usage ua, ub;
    vm_usage(&a, NULL, &ua);
    vm_usage(&b, NULL, &ub);
    KT_ASSERT_EQ(ua.shared, 4);
    KT_ASSERT_EQ(ub.shared, 4);
    KT_ASSERT(free_a - proc_free_frames() <= 4); /* b's tables, no data frame */
    /* b writes page 0: a copy; a keeps its byte. */
    KT_ASSERT_EQ(vm_fault(&b, d, VM_ACC_WRITE), 0);
    KT_ASSERT_EQ(b.c.cow_copies, 1);
    KT_ASSERT_EQ(vm_write_page(&b, d, "B", 1), 0);
    KT_ASSERT_EQ(page_byte(&a, d), 'A');
    KT_ASSERT_EQ(page_byte(&b, d), 'B');
    /* b goes: a's remaining shared pages are its own again, taken over. */
    vm_as_destroy(&b);
    KT_ASSERT_EQ(vm_fault(&a, d + PAGE_SIZE, VM_ACC_WRITE), 0);
    KT_ASSERT_EQ(a.c.cow_takeovers, 1);
    KT_ASSERT_EQ(a.c.cow_copies, 0);
    vm_usage(&a, NULL, &ua);
    KT_ASSERT_EQ(ua.shared, 0);
    KT_ASSERT_EQ(ua.resident, 4);
    vm_as_destroy(&a);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

/* ---- whole programs ----------------------------------------------------- */

static bool have_programs(void)
{
    if (proc_module_lookup("hello"))
        return true;
    printk("  (skipped: no user program modules on this boot)\n");
    return false;
}

/* Run a program to its end; its status, and its kill report in report. */
static int run(const char *name, const char *arg, char *report, size_t size)
{
    char *argv[2] = {(char *)name, (char *)arg};
    struct proc *p = proc_spawn(name, arg ? 2 : 1, argv);
    if (!p)
        return -1000;
    int status = -1000;
    report[0] = 0;
    if (proc_wait_for(p->pid, &status, report, size) != 0)
        return -1001;
    return status;
}

KTEST(user_hello_exit_frees)
{
    if (!have_programs())
        return;
    char rep[200];
    uint64_t free0 = proc_free_frames();
    KT_ASSERT_EQ(run("hello", NULL, rep, sizeof(rep)), 0);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_demand_program)
{
    if (!have_programs())
        return;
    char rep[200];
    uint64_t free0 = proc_free_frames();
    KT_ASSERT_EQ(run("demand", NULL, rep, sizeof(rep)), 0);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_fork_exit_no_leak)
{
    if (!have_programs())
        return;
    char rep[200];
    uint64_t free0 = proc_free_frames();
    KT_ASSERT_EQ(run("cow", NULL, rep, sizeof(rep)), 0);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_crashes_kill_only_the_process)
{
    if (!have_programs())
        return;
    static const struct {
        const char *name, *arg, *says;
    } crashes[] = {
        {"crash-null", NULL, "NULL page"},   {"crash-kernel", NULL, "kernel memory"},
        {"crash-text", NULL, "region code"}, {"crash-stack", NULL, "guard gap"},
        {"crash-exec", NULL, "exec at"},     {"crash-exec", "heap", "region heap"},
    };
    char rep[200];
    uint64_t free0 = proc_free_frames();
    for (size_t i = 0; i < ARRAY_SIZE(crashes); i++) {
        int st = run(crashes[i].name, crashes[i].arg, rep, sizeof(rep));
        if (st != EXIT_KILLED || !strstr_(rep, crashes[i].says)) {
            ktest_fail(__FILE__, __LINE__, "%s: status %d, report '%s' (wanted '%s')",
                       crashes[i].name, st, rep, crashes[i].says);
            return;
        }
        KT_ASSERT_EQ(proc_free_frames(), free0);
    }
}

KTEST(user_hog_out_of_memory)
{
    if (!have_programs())
        return;
    char rep[200];
    uint64_t free0 = proc_free_frames();
    int st = run("hog", NULL, rep, sizeof(rep));
    KT_ASSERT(st == 0 || (st == EXIT_KILLED && strstr_(rep, "out of memory (its frame limit")));
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_syscall_fuzz)
{
    if (!have_programs())
        return;
    char rep[200];
    uint64_t free0 = proc_free_frames();
    KT_ASSERT_EQ(run("sysfuzz", NULL, rep, sizeof(rep)), 0);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

/* Take free frames out of the PMM until `keep` are left, chained through
 * their first word; give them back with undrain. */
static paddr_t drain_to(uint64_t keep)
{
    paddr_t head = 0;
    while (proc_free_frames() > keep) {
        paddr_t f = (paddr_t)pmm_alloc(1);
        if (!f)
            break;
        uint64_t *w = vmm_map_temp(f);
        *w = head;
        vmm_unmap_temp(w);
        head = f;
    }
    return head;
}

static void undrain(paddr_t head)
{
    while (head) {
        uint64_t *w = vmm_map_temp(head);
        paddr_t next = *w;
        vmm_unmap_temp(w);
        pmm_free((void *)head, 1);
        head = next;
    }
}

KTEST(user_hog_pmm_exhausted)
{
    if (!have_programs())
        return;
    /* Leave the PMM fewer frames than the per-process limit: hog must be
     * killed when the PMM itself runs dry, and the kernel go on. */
    char rep[200];
    uint64_t free0 = proc_free_frames();
    paddr_t held = drain_to(USER_FRAME_LIMIT / 4);
    int st = run("hog", NULL, rep, sizeof(rep));
    uint64_t during = proc_free_frames();
    undrain(held);
    KT_ASSERT_EQ(st, EXIT_KILLED);
    KT_ASSERT(strstr_(rep, "out of memory (no free frame in the PMM)"));
    KT_ASSERT(during <= USER_FRAME_LIMIT / 4);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_preemption)
{
    if (!have_programs())
        return;
    /* spin never enters the kernel: hello can only finish beside it if the
     * timer takes the CPU from spin. */
    char rep[200], *argv[1] = {"spin"};
    uint64_t free0 = proc_free_frames();
    struct proc *s = proc_spawn("spin", 1, argv);
    KT_ASSERT(s != NULL);
    int spid = s->pid;
    KT_ASSERT_EQ(run("hello", NULL, rep, sizeof(rep)), 0);
    KT_ASSERT(s->ticks > 0);
    KT_ASSERT_EQ(proc_kill(spid), 0);
    int st = 0;
    KT_ASSERT_EQ(proc_wait_for(spid, &st, rep, sizeof(rep)), 0);
    KT_ASSERT_EQ(st, EXIT_KILLED);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}
