/*
 * System calls (<pagoda/syscall.h> is the interface), and the checked
 * copies between the kernel and user memory that every one of them uses.
 *
 * A user pointer is trusted for nothing. copy_from_user/copy_to_user first
 * check the whole range: inside the user half without wrapping, and every
 * page inside a region that allows the access (no region or the guard gap:
 * -EFAULT). Then they fault each page in through the VM's own decision
 * (vm_fault), exactly as the CPU would have, so that a demand, zero-page or
 * copy-on-write page is ready before the copy. The copy itself runs under
 * the safe-copy fixup (arch_copy_user): if a page still faults, the copy
 * returns an error instead of faulting the kernel.
 */
#include <arch/arch.h>
#include <arch/user.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/printk.h>
#include <pagoda/spinlock.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>

#include "proc.h"

static int check_user(struct proc *p, vaddr_t va, size_t n, bool write)
{
    if (n == 0)
        return 0;
    if (!p->has_as || va >= USER_LIMIT || n > USER_LIMIT - va)
        return -EFAULT;
    for (vaddr_t pg = ALIGN_DOWN(va, PAGE_SIZE); pg < va + n; pg += PAGE_SIZE)
        if (vm_fault(&p->as, pg, write ? VM_ACC_WRITE : VM_ACC_READ))
            return -EFAULT;
    return 0;
}

int copy_from_user(struct proc *p, void *dst, vaddr_t src, size_t n)
{
    if (check_user(p, src, n, false))
        return -EFAULT;
    return n && arch_copy_user(dst, (const void *)src, n) ? -EFAULT : 0;
}

int copy_to_user(struct proc *p, vaddr_t dst, const void *src, size_t n)
{
    if (check_user(p, dst, n, true))
        return -EFAULT;
    return n && arch_copy_user((void *)dst, src, n) ? -EFAULT : 0;
}

static long sys_write(struct proc *p, unsigned long fd, unsigned long buf, unsigned long len)
{
    if (fd != 1 && fd != 2)
        return -EBADF;
    if (len > (1u << 20))
        return -EINVAL;
    if (check_user(p, buf, len, false))
        return -EFAULT;
    char chunk[256];
    for (unsigned long done = 0; done < len;) {
        size_t n = MIN(sizeof(chunk), len - done);
        if (copy_from_user(p, chunk, buf + done, n))
            return -EFAULT;
        console_write(chunk, n);
        done += n;
    }
    return (long)len;
}

static long sys_brk(struct proc *p, unsigned long addr)
{
    if (addr == 0)
        return (long)p->brk;
    if (addr < p->heap_base || addr - p->heap_base > USER_HEAP_MAX)
        return -ENOMEM;
    vaddr_t end = ALIGN_UP(addr, PAGE_SIZE);
    struct vm_region *r = vm_region_of_kind(&p->as, VM_HEAP);
    int rc = 0;
    if (!r && end > p->heap_base)
        rc = vm_region_add(&p->as, p->heap_base, end, VM_R | VM_W, VM_BACK_ZERO, VM_HEAP);
    else if (r && end == p->heap_base)
        rc = vm_unmap_range(&p->as, r->start, r->end);
    else if (r)
        rc = vm_region_resize(&p->as, r, end);
    if (rc)
        return -ENOMEM;
    p->brk = addr;
    return (long)addr;
}

static long sys_mmap(struct proc *p, unsigned long len, unsigned long prot, unsigned long flags)
{
    if (!(flags & MAP_ANON) || (flags & ~(unsigned long)(MAP_ANON | MAP_DEMAND)) || (prot & ~7ul) ||
        !(prot & PROT_READ) || ((prot & PROT_WRITE) && (prot & PROT_EXEC)))
        return -EINVAL;
    if (len == 0 || len > (1ul << 30))
        return -EINVAL;
    len = ALIGN_UP(len, PAGE_SIZE);
    vaddr_t va = vm_find_gap(&p->as, USER_MMAP_BASE, USER_MMAP_LIMIT, len);
    unsigned vp = VM_R | (prot & PROT_WRITE ? VM_W : 0) | (prot & PROT_EXEC ? VM_X : 0);
    if (!va || vm_region_add(&p->as, va, va + len, vp,
                             flags & MAP_DEMAND ? VM_BACK_DEMAND : VM_BACK_ZERO, VM_MMAP))
        return -ENOMEM;
    return (long)va;
}

static long sys_munmap(struct proc *p, unsigned long addr, unsigned long len)
{
    if (!IS_ALIGNED(addr, PAGE_SIZE) || len == 0 || addr >= USER_LIMIT || len > USER_LIMIT - addr)
        return -EINVAL;
    vaddr_t end = ALIGN_UP(addr + len, PAGE_SIZE);
    for (unsigned i = 0; i < p->as.nregions; i++) {
        const struct vm_region *r = &p->as.r[i];
        if (r->start < end && addr < r->end && r->kind != VM_MMAP)
            return -EINVAL; /* only mmap regions may go */
    }
    return vm_unmap_range(&p->as, addr, end) ? -ENOMEM : 0;
}

static long sys_wait(struct proc *p, unsigned long ustatus)
{
    int dummy = 0;
    if (ustatus && copy_to_user(p, ustatus, &dummy, sizeof(dummy)))
        return -EFAULT; /* checked before we block, and again after */
    int status = 0, pid = proc_wait_child(p, &status);
    if (pid > 0 && ustatus && copy_to_user(p, ustatus, &status, sizeof(status)))
        return -EFAULT;
    return pid;
}

static long sys_memstat(struct proc *p, unsigned long out)
{
    struct sys_memstat m;
    struct vm_usage u, s = {0}, h = {0};
    memset(&m, 0, sizeof(m));
    vm_usage(&p->as, NULL, &u);
    struct vm_region *r = vm_region_of_kind(&p->as, VM_STACK);
    if (r)
        vm_usage(&p->as, r, &s);
    r = vm_region_of_kind(&p->as, VM_HEAP);
    if (r)
        vm_usage(&p->as, r, &h);
    m.resident = u.resident;
    m.zero = u.zero;
    m.shared = u.shared;
    m.frames = p->as.frames;
    m.demand_faults = p->as.c.demand_faults;
    m.zero_maps = p->as.c.zero_maps;
    m.zero_breaks = p->as.c.zero_breaks;
    m.cow_copies = p->as.c.cow_copies;
    m.cow_takeovers = p->as.c.cow_takeovers;
    m.stack_pages = s.resident + s.zero + s.shared;
    m.heap_pages = h.resident + h.zero + h.shared;
    return copy_to_user(p, out, &m, sizeof(m));
}

static long dispatch(struct proc *p, unsigned long nr, unsigned long a0, unsigned long a1,
                     unsigned long a2, unsigned long a3)
{
    switch (nr) {
    case SYS_EXIT:
        proc_exit(p, (int)(a0 & 0xff));
    case SYS_WRITE:
        return sys_write(p, a0, a1, a2);
    case SYS_BRK:
        return sys_brk(p, a0);
    case SYS_MMAP:
        return sys_mmap(p, a1, a2, a3);
    case SYS_MUNMAP:
        return sys_munmap(p, a0, a1);
    case SYS_FORK:
        return proc_fork(p);
    case SYS_WAIT:
        return sys_wait(p, a0);
    case SYS_GETPID:
        return p->pid;
    case SYS_YIELD:
        schedule();
        return 0;
    case SYS_MEMSTAT:
        return sys_memstat(p, a0);
    case SYS_STOP:
        spin_lock(&sched_lock);
        p->state = P_STOPPED;
        if (p->parent && p->parent->state == P_WAITING && p->parent->wait_stops &&
            p->parent->wait_pid == p->pid)
            p->parent->state = P_RUNNABLE;
        spin_unlock(&sched_lock);
        schedule();
        return 0;
    default:
        return -ENOSYS;
    }
}

long syscall_dispatch(unsigned long nr, unsigned long a0, unsigned long a1, unsigned long a2,
                      unsigned long a3, unsigned long a4)
{
    (void)a4;
    struct proc *p = proc_current();
    sched_kernel_enter(p);
    long rc = dispatch(p, nr, a0, a1, a2, a3);
    sched_user_return(p);
    return rc;
}
