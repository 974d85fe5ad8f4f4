/*
 * In-kernel tests of user memory seen from the kernel (`test=user_`), with
 * no program run: the copy and system-call pointer checks on a process that
 * is never scheduled, SMAP, and the VM policy (zero page, copy-on-write) on
 * real page tables. The ELF tests are in user_elf_ktest.c, the tests that
 * run whole programs in user_prog_ktest.c.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/monitor.h>
#include <arch/user.h>
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>

#include "proc.h"
#include "user_ktest.h"

bool user_kt_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncmp(hay, needle, n) == 0)
            return true;
    return n == 0;
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
