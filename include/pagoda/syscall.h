/*
 * Pagoda's system calls: the whole interface between user programs
 * (src/user/) and the kernel (src/kern/syscall.c), in one header that both
 * include.
 *
 * Calling convention: `int 0x80` with the call number in RAX and up to five
 * arguments in RDI, RSI, RDX, R10, R8; the result comes back in RAX. A
 * negative result is an error, -E* below. Every pointer and length is
 * checked against the caller's regions: a bad one gives -EFAULT, never a
 * kernel fault.
 */
#ifndef PAGODA_SYSCALL_H
#define PAGODA_SYSCALL_H

#define SYS_VECTOR 0x80

/* exit(status): end the process; its parent's wait gets status (0..255). */
#define SYS_EXIT 0
/* write(fd, buf, len): fd 1 or 2, to the console. Returns len. */
#define SYS_WRITE 1
/* brk(addr): move the end of the heap to addr (0: just ask). Returns the
 * new end, or -ENOMEM. The heap is zero-page backed: reads map the shared
 * zero frame, the first write to a page gives it a frame of its own. */
#define SYS_BRK 2
/* mmap(0, len, prot, flags): anonymous memory, len bytes rounded up to
 * pages. prot: PROT_*; W and X together are refused (-EINVAL). flags must
 * hold MAP_ANON; MAP_DEMAND backs each page with a fresh frame on first
 * touch instead of the zero page. Returns the address or -ENOMEM. */
#define SYS_MMAP 3
/* munmap(addr, len): drop whole pages of mmap regions in [addr, addr+len). */
#define SYS_MUNMAP 4
/* fork(): a copy-on-write copy of the caller. 0 in the child, the child's
 * pid in the parent, -EAGAIN without a free process slot or memory. */
#define SYS_FORK 5
/* wait(int *status): wait for a child to end; returns its pid and stores
 * its status (status < 0: it was killed) if status is not NULL. -ECHILD
 * without children. */
#define SYS_WAIT 6
#define SYS_GETPID 7
/* yield(): let the next runnable process have the CPU. */
#define SYS_YIELD 8
/* memstat(struct sys_memstat *out): the caller's memory statistics. */
#define SYS_MEMSTAT 9
/* stop(): stop here until the monitor's `cont PID`; the monitor's `run`
 * returns to the prompt meanwhile, so that ps, vmmap and walk can look. */
#define SYS_STOP 10
#define SYS_COUNT 11

#define EFAULT 14
#define ENOMEM 12
#define EINVAL 22
#define ECHILD 10
#define EAGAIN 11
#define ENOSYS 38
#define EBADF 9

#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_ANON 0x20
#define MAP_DEMAND 0x1000

/* Exit status of a process killed by a fault. */
#define EXIT_KILLED (-1)

struct sys_memstat {
    unsigned long resident;      /* pages on frames of its own */
    unsigned long zero;          /* pages on the shared zero frame */
    unsigned long shared;        /* pages on frames another process maps too */
    unsigned long frames;        /* frames it holds a reference to */
    unsigned long demand_faults; /* fresh frames mapped on first touch */
    unsigned long zero_maps;     /* reads that mapped the zero frame */
    unsigned long zero_breaks;   /* first writes to a zero-mapped page */
    unsigned long cow_copies;    /* write faults that copied a shared frame */
    unsigned long cow_takeovers; /* write faults on a frame no longer shared */
    unsigned long stack_pages;   /* mapped pages of the stack region */
    unsigned long heap_pages;    /* mapped pages of the heap region */
};

#endif
