/*
 * Processes (src/kern/proc*.c, sched.c, syscall.c, elf.c): a fixed table of
 * slots, each with a kernel stack, a user address space (struct vm_as) and
 * a state. Slot 0 is the kernel thread: kmain and the monitor, which never
 * enters user mode and whose `run` waits for the programs it starts.
 *
 * The user half of every process (<pagoda/memlayout.h> has the whole map):
 *
 *  0x00007ffffff00000 +-------------------------------+ USER_STACK_TOP
 *                     | stack, demand-paged, RW, NX   | USER_STACK_MAX
 *                     +-------------------------------+
 *                     | guard gap: no access          | USER_GUARD_GAP
 *                     +-------------------------------+
 *                     | (free)                        |
 *  0x0000000100000000 +-------------------------------+ USER_MMAP_BASE
 *                     | mmap regions, first fit       |
 *                     | heap: brk, zero page, RW, NX  | up to USER_HEAP_MAX
 *  image end          +-------------------------------+ (page-aligned)
 *                     | ELF segments: code r-x,       |
 *                     | rodata r--, data+bss rw-      |
 *  0x0000000000400000 +-------------------------------+ (the link address)
 *                     | unmapped: NULL faults         |
 *  0x0000000000000000 +-------------------------------+
 *
 * Locking: sched_lock (sched.c, LOCK_LEVEL_SCHED) guards every slot's
 * state, on_cpu, cpu and boot_only, and each CPU's cpu->proc; it is taken
 * with interrupts off (the process code runs with them off: system calls
 * come in through an interrupt gate; the monitor's calls disable them).
 * Everything else in a slot belongs to the thread that runs it, or to the
 * boot CPU's kernel work while it is switched out (sched.c: all kernel work
 * of processes runs on the boot CPU for now). Address-space memory is never
 * freed with sched_lock held (freeing may wait for other CPUs).
 */
#ifndef PAGODA_KERN_PROC_H
#define PAGODA_KERN_PROC_H

#include <pagoda/percpu.h>
#include <pagoda/types.h>
#include <pagoda/vm.h>

#define PROC_MAX 9 /* slot 0 (the kernel thread) + 8 processes */
#define PROC_NAME_MAX 24
#define PROC_ARGS_MAX 8

#define USER_IMAGE_MIN 0x10000ULL
#define USER_IMAGE_MAX 0x40000000ULL /* ELF segments end below this */
#define USER_HEAP_MAX (64ULL << 20)
#define USER_MMAP_BASE 0x100000000ULL
#define USER_MMAP_LIMIT 0x700000000000ULL
#define USER_STACK_TOP 0x7ffffff00000ULL
#define USER_STACK_MAX (256ULL << 10)
#define USER_GUARD_GAP (64ULL << 10)
#define USER_FRAME_LIMIT 4096 /* frames per process (16 MiB) */

enum proc_state { P_FREE, P_RUNNABLE, P_RUNNING, P_WAITING, P_STOPPED, P_ZOMBIE, P_DEAD };

struct proc {
    int pid;
    enum proc_state state;
    char name[PROC_NAME_MAX];
    struct proc *parent;
    struct vm_as as;
    bool has_as;
    uint8_t *kstack_top; /* NULL for the kernel thread (it has the boot stack) */
    uint64_t ctx;        /* saved stack pointer while switched out */
    int wait_pid;        /* P_WAITING: the pid awaited, or -1 for any child */
    bool wait_stops;     /* ... and a stop ends the wait too (the monitor) */
    bool poll;           /* woken by the timer to look for Ctrl-C (the monitor) */
    bool kill_pending;
    int exit_status;  /* P_ZOMBIE: 0..255, or EXIT_KILLED */
    char report[200]; /* why it was killed */
    vaddr_t heap_base, brk;
    uint64_t ticks;
    /* Scheduling (sched.c, under sched_lock): */
    bool on_cpu;    /* some CPU runs it (or is still switching away from it) */
    int cpu;        /* the CPU it runs on, or ran on last (-1: never ran) */
    uint32_t ran_on; /* the CPUs it has run on, a bit per index (for tests) */
    uint32_t kernel_on; /* the CPUs its kernel work began on, likewise (its own writes) */
    bool boot_only; /* serialised kernel work in progress, or not yet preempted
                     * once: the boot CPU alone may run it */
    bool in_kernel; /* in kernel work (from its entry to its return to user
                     * mode): written by the process itself, read by any CPU */
};

/* Per-CPU state (struct cpu in <pagoda/percpu.h>) holds the running thread:
 * cpu->proc, on every CPU (an idle thread when nothing else runs there). */
static inline struct proc *proc_current(void)
{
    return this_cpu()->proc;
}

extern struct proc proc_table[PROC_MAX];

/* Boot: reference table, zero frame, ring-3 plumbing, the kernel thread.
 * After vmm_init and the heap. */
void proc_init(void);
/* Start program `name` (a Multiboot2 module) with argv[0..argc). Returns
 * the new process (runnable, child of the caller) or NULL, with the reason
 * printed. */
struct proc *proc_spawn(const char *name, int argc, char **argv);
/* The kernel thread waits for pid to end (returns 0, status in *status,
 * slot freed) or stop (returns 1). -1 if pid is not its child. */
int proc_wait_for(int pid, int *status, char *report, size_t report_size);
/* End the calling process (never returns): frees its memory, wakes its
 * parent, switches away. */
__attribute__((noreturn)) void proc_exit(struct proc *p, int status);
/* Kill the calling process with a report line (printed). */
__attribute__((noreturn)) void proc_die(struct proc *p, const char *report);
/* Fork the calling process: the child's pid, or -EAGAIN. */
int proc_fork(struct proc *p);
/* wait() for any child of the caller: pid, or -ECHILD. */
int proc_wait_child(struct proc *p, int *status);
/* Called by the monitor before its process commands: if a fault or panic
 * in a system call sent the monitor back to its recovery point, the kernel
 * thread is running again while the CPU still names that process; kill the
 * process and make the kernel thread current again. */
void proc_recover_kernel_thread(void);
/* The boot module of program `name`, or NULL (for tests). */
const void *proc_module_lookup(const char *name);
/* The process with this pid, or NULL. */
struct proc *proc_find(int pid);
/* Resume a stopped process (0) or ask it to die at its next switch-in. */
int proc_continue(int pid);
int proc_kill(int pid);
const char *proc_state_name(enum proc_state s);
/* Free PMM frames before/after a program, for the leak checks. */
uint64_t proc_free_frames(void);

/* Scheduler (sched.c): pick the next runnable thread and switch to it.
 * Interrupts off, sched_lock not held. The caller sets its own state first
 * (P_RUNNING stays runnable). A pending kill is carried out on return. */
void schedule(void);
/* What the lock checks report when a thread calls schedule() holding a
 * spinlock. */
#define SCHED_SLEEP_WITH_LOCK "schedule: a thread sleeps with a spinlock held"
/* The same with sched_lock held on entry and on return (no kill check). */
void schedule_locked(void);
struct spinlock;
extern struct spinlock sched_lock;
/* Boot: the idle threads, the kernel thread running on the boot CPU, and
 * the idle hook of every CPU. */
void sched_init(struct proc *kernel_thread);
/* Called by a process entering the kernel (interrupts off, no lock held):
 * it does its kernel work where it runs, or, while a serialised section is
 * open, moves to the boot CPU first and returns there. */
void sched_kernel_enter(struct proc *p);
/* The boot CPU's kernel thread: from _begin to _end, processes' kernel work
 * runs on the boot CPU only, so it waits while the caller runs (kernel code
 * is not preempted). _begin returns once no process does kernel work on an
 * AP. Nests. */
void sched_kernel_serialise_begin(void);
void sched_kernel_serialise_end(void);
/* Called by a process about to go back to user mode: any CPU may run it. */
void sched_user_return(struct proc *p);
/* Is p one of the per-CPU idle threads (not in proc_table)? */
bool sched_is_idle_thread(const struct proc *p);

/* The ELF loader (elf.c): validate and map a static ELF64 executable into
 * as, reading it through rd. 0 with *entry and *image_end set, or
 * -E_INVAL with the reason in err. */
struct elf_reader {
    uint64_t size;
    int (*read)(void *ctx, uint64_t off, void *dst, size_t n);
    void *ctx;
};
int elf_load(struct vm_as *as, const struct elf_reader *rd, vaddr_t *entry, vaddr_t *image_end,
             char *err, size_t errlen);

/* Copy to or from the calling process's memory, checking every page against
 * its regions and faulting pages in first: 0 or -EFAULT (syscall.c). */
int copy_from_user(struct proc *p, void *dst, vaddr_t src, size_t n);
int copy_to_user(struct proc *p, vaddr_t dst, const void *src, size_t n);

/* The monitor's commands (monitor_proc.c). */
void mon_cmd_run(int argc, char **argv);
void mon_cmd_ps(int argc, char **argv);
void mon_cmd_vmmap(int argc, char **argv);
void mon_cmd_cont(int argc, char **argv);
void mon_cmd_kill(int argc, char **argv);
void mon_cmd_walk_pid(int argc, char **argv);

#endif
