/*
 * Per-CPU state has one home: struct cpu. Code reaches the running CPU's
 * through this_cpu() (one GS-relative load in the kernel) and another CPU's
 * through cpu_get(index); nothing indexes arrays by APIC id.
 *
 * Index 0 is the boot CPU; APs get 1..cpu_count()-1 in MADT order. The boot
 * CPU's struct is live from arch_early_init, before anything can fault, so
 * panic and the trap report may always ask which CPU they run on.
 *
 * What is here today: identity, state, the LAPIC tick count, IPI counters,
 * the "stop" flag the panic NMI carries, the locks held (for the spinlock
 * checks) and the call mailbox of smp_call_all. The per-CPU allocator caches
 * (magazines, frame cache) and the current address space will join them.
 */
#ifndef PAGODA_PERCPU_H
#define PAGODA_PERCPU_H

#include <pagoda/types.h>

#define SMP_MAX_CPUS   16 /* CPUs brought up; further MADT entries stay off */
#define CPU_MAX_LOCKS  8  /* spinlocks one CPU may hold at once */

enum cpu_state {
    CPU_ABSENT,   /* no such CPU */
    CPU_STARTING, /* INIT-SIPI-SIPI sent, not yet in the kernel */
    CPU_ONLINE,   /* in the kernel, idle loop or working */
    CPU_FAILED,   /* did not come up in time: left alone */
    CPU_STOPPED,  /* halted by the panic NMI */
};

struct spinlock;

struct cpu {
    struct cpu *self;       /* %gs:0, so this_cpu() is one load */
    unsigned index;         /* 0: the boot CPU */
    uint32_t apic_id;
    volatile int state;     /* enum cpu_state */
    volatile uint64_t ticks; /* LAPIC timer interrupts taken */
    volatile uint64_t ipis;  /* call IPIs taken */
    volatile bool stop;     /* set before the stop NMI: the NMI handler halts */
    volatile uint64_t nmis_stop; /* stop NMIs recognised (for tests) */
    /* Spinlocks held, innermost last (lock order and recursion checks). */
    unsigned nlocks;
    struct spinlock *locks[CPU_MAX_LOCKS];
    /* smp_call_all's mailbox: the caller writes fn/arg then bumps call_seq;
     * this CPU runs fn(arg) from its idle loop and copies seq to call_done. */
    void (*volatile call_fn)(void *arg);
    void *volatile call_arg;
    volatile uint64_t call_seq, call_done;
    vaddr_t kstack_top;     /* the stack the CPU entered the kernel on */
    /* Processes (src/kern/sched.c, under its lock): the thread running here
     * (this CPU's idle thread when nothing else), timer ticks taken in user
     * mode, those of them that took the scheduler's lock, switches. */
    struct proc *proc;
    uint64_t user_ticks;
    uint64_t tick_locks;
    uint64_t switches;
    void *arch;             /* arch/x86_64: GDT, TSS, IST stacks */
};

#ifdef PAGODA_KERNEL
#include <arch/percpu.h>
/* The running CPU's struct. Valid from arch_early_init on, on every CPU. */
static inline struct cpu *this_cpu(void) { return arch_this_cpu(); }
#else
/* Host builds: each thread stands in for a CPU (src/lib/cpu_host.c), with
 * the lowest index no live thread holds. */
extern _Thread_local struct cpu *cpu_host_self __attribute__((tls_model("initial-exec")));
struct cpu *cpu_host_attach(void);
static inline struct cpu *this_cpu(void)
{
    struct cpu *c = cpu_host_self; /* one TLS load, as GS is in the kernel */
    return __builtin_expect(c != NULL, 1) ? c : cpu_host_attach();
}
/* Run fn(c) when a thread ends, before its index is reused (this_cpu() is c
 * then): per-CPU caches drain there. Registering twice is one hook. */
void cpu_host_on_exit(void (*fn)(struct cpu *c));
/* Is a thread holding index `index` now? */
bool cpu_host_online(unsigned index);
#endif

/* CPUs online or once started (the boot CPU counts; 1 before smp_init). */
unsigned cpu_count(void);
/* The struct of CPU `index` (< cpu_count()), or NULL. */
struct cpu *cpu_get(unsigned index);
const char *cpu_state_name(int state);

#endif
