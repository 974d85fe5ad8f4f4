/*
 * Ring 3 for x86_64: the `int 0x80` gate, user contexts on kernel stacks,
 * TSS.RSP0, SMEP/SMAP, user copies, and the hooks that route user-mode
 * exceptions and timer ticks to the process code.
 *
 * A process's kernel stack holds, at its top, the trap frame of the way it
 * last came in from user mode (uentry.asm or isr.asm build it there, since
 * TSS.RSP0 points at the top). A new process gets a forged frame there, plus
 * a return address to user_resume and six zeroed callee-saved registers
 * below it, so that the first arch_switch to it "returns" into the iretq.
 *
 * User exceptions: every exception vector but NMI, #DF and #MC gets a
 * wrapper that looks at the saved CS. From ring 3, a #PF goes to the VM's
 * fault decision (through proc_user_page_fault) and anything else kills the
 * process; from ring 0 the handler that was there before runs, unchanged.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/monitor.h>
#include <arch/user.h>
#include <pagoda/percpu.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>
#include <pagoda/vm.h>

#include "cpu.h"
#include "irq.h"
#include "lapic.h"
#include "vmm_internal.h"
#include "x86.h"

extern void isr_syscall(void);
extern void user_first(void);
extern void kthread_first(void);
void idt_set_user_gate(int vector, uint64_t handler);
void cpu_set_rsp0(uint64_t rsp);

#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)

#define PROC_STACK_SIZE 16384
KSTACK_DEFINE(proc_stack1, PROC_STACK_SIZE);
KSTACK_DEFINE(proc_stack2, PROC_STACK_SIZE);
KSTACK_DEFINE(proc_stack3, PROC_STACK_SIZE);
KSTACK_DEFINE(proc_stack4, PROC_STACK_SIZE);
KSTACK_DEFINE(proc_stack5, PROC_STACK_SIZE);
KSTACK_DEFINE(proc_stack6, PROC_STACK_SIZE);
KSTACK_DEFINE(proc_stack7, PROC_STACK_SIZE);
KSTACK_DEFINE(proc_stack8, PROC_STACK_SIZE);
static uint8_t *const proc_stacks[ARCH_PROC_STACKS] = {
    proc_stack1_area, proc_stack2_area, proc_stack3_area, proc_stack4_area,
    proc_stack5_area, proc_stack6_area, proc_stack7_area, proc_stack8_area,
};

uint8_t *arch_proc_kstack(unsigned i)
{
    return i < ARCH_PROC_STACKS ? proc_stacks[i] + 4096 + PROC_STACK_SIZE : NULL;
}

static bool smap_on;
static char features[48] = "none";
static trap_handler_t prev[48];
static bool timer_hooked;

static bool user_mode(const struct trap_frame *f)
{
    return (f->cs & 3) == 3;
}

/* User code may set RFLAGS.AC, and a trap does not clear it: without this,
 * SMAP would be off for the whole system call. (The iretq restores the
 * user's flags.) */
static inline void smap_close(void)
{
    if (smap_on)
        __asm__ volatile("clac" ::: "memory");
}

static bool on_exception(struct trap_frame *f)
{
    if (!user_mode(f))
        return prev[f->vector] ? prev[f->vector](f) : false;
    smap_close();
    if (f->vector == 14 && !(f->error & 8)) { /* (a reserved bit is our bug: no retry) */
        unsigned acc = (f->error & 2 ? VM_ACC_WRITE : 0) | (f->error & 16 ? VM_ACC_EXEC : 0);
        proc_user_page_fault(read_cr2(), acc, f->rip); /* returns only if resolved */
        return true;
    }
    proc_user_exception(trap_name(f->vector), f->error, f->rip);
}

/* The PIT (IRQ 0) reaches the boot CPU only: it preempts user code there,
 * as it did before there were other CPUs. */
static bool on_timer(struct trap_frame *f)
{
    bool ok = prev[IRQ_BASE] ? prev[IRQ_BASE](f) : (pic_eoi(IRQ_PIT), true);
    if (user_mode(f)) {
        smap_close(); /* (the next thread must not inherit the user's AC) */
        sched_tick(); /* the EOI went out already */
    }
    return ok;
}

/* Every CPU's LAPIC timer: it preempts user code on the APs (the boot CPU
 * has the PIT for that, so its slices stay what they were). */
static trap_handler_t prev_lapic_timer, prev_lapic_call;

static bool on_lapic_timer(struct trap_frame *f)
{
    bool ok = prev_lapic_timer ? prev_lapic_timer(f) : false; /* (counts, EOI) */
    if (user_mode(f) && this_cpu()->index != 0) {
        smap_close();
        sched_tick();
    }
    return ok;
}

/* A cross-CPU call that lands in user code: the call is served by the idle
 * thread, so switch there now rather than at the next tick. */
static bool on_lapic_call(struct trap_frame *f)
{
    bool ok = prev_lapic_call ? prev_lapic_call(f) : false;
    if (user_mode(f)) {
        smap_close();
        sched_call_kick();
    }
    return ok;
}

void x86_syscall(struct trap_frame *f)
{
    smap_close();
    f->rax = (uint64_t)syscall_dispatch(f->rax, f->rdi, f->rsi, f->rdx, f->r10, f->r8);
}

void arch_user_init(void)
{
    idt_set_user_gate(SYS_VECTOR, (uint64_t)isr_syscall);
    for (int v = 0; v < 32; v++) {
        if (v == 2 || v == 8 || v == 18)
            continue;
        prev[v] = trap_get_handler(v);
        trap_set_handler(v, on_exception);
    }
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    uint32_t ebx7 = 0;
    if (a >= 7) {
        cpuid(7, 0, &a, &b, &c, &d);
        ebx7 = b;
    }
    uint64_t cr4 = read_cr4();
    features[0] = 0;
    if (ebx7 & (1u << 7)) {
        cr4 |= CR4_SMEP;
        kstrlcpy(features, "SMEP", sizeof(features));
    }
    if (ebx7 & (1u << 20)) {
        cr4 |= CR4_SMAP;
        smap_on = true;
        size_t n = strlen(features);
        kstrlcpy(features + n, n ? " SMAP" : "SMAP", sizeof(features) - n);
    }
    if (!features[0])
        kstrlcpy(features, "neither SMEP nor SMAP on this CPU", sizeof(features));
    write_cr4(cr4);
}

void arch_user_timer_start(void)
{
    if (timer_hooked)
        return;
    timer_hooked = true;
    arch_input_start(); /* the PIT at ARCH_TICK_HZ, and sti */
    bool irq = arch_irq_save();
    prev[IRQ_BASE] = trap_get_handler(IRQ_BASE);
    trap_set_handler(IRQ_BASE, on_timer);
    prev_lapic_timer = trap_get_handler(LAPIC_TIMER_VEC);
    prev_lapic_call = trap_get_handler(LAPIC_CALL_VEC);
    if (prev_lapic_timer) /* (no LAPIC: no APs either) */
        trap_set_handler(LAPIC_TIMER_VEC, on_lapic_timer);
    if (prev_lapic_call)
        trap_set_handler(LAPIC_CALL_VEC, on_lapic_call);
    arch_irq_restore(irq);
}

bool arch_user_smap_on(void)
{
    return smap_on;
}

const char *arch_user_features(void)
{
    return features;
}

uint64_t arch_uctx_new(uint8_t *top, vaddr_t entry, vaddr_t sp, uint64_t a0, uint64_t a1)
{
    struct trap_frame *f = (struct trap_frame *)(top - sizeof(*f));
    memset(f, 0, sizeof(*f));
    f->rip = entry;
    f->cs = GDT_UCODE;
    f->rflags = RFLAGS_IF | 2;
    f->rsp = sp;
    f->ss = GDT_UDATA;
    f->rdi = a0;
    f->rsi = a1;
    uint64_t *s = (uint64_t *)f;
    *--s = (uint64_t)user_first;
    for (int i = 0; i < 6; i++)
        *--s = 0; /* rbp, rbx, r12..r15 for arch_switch to pop */
    return (uint64_t)s;
}

uint64_t arch_kctx_new(uint8_t *top, void (*fn)(void))
{
    uint64_t *s = (uint64_t *)top;
    *--s = (uint64_t)kthread_first; /* after its ret, RSP = top: 16-aligned */
    /* arch_switch pops r15, r14, r13, r12, rbx, rbp: rbx is fn. */
    *--s = 0;
    *--s = (uint64_t)fn;
    for (int i = 0; i < 4; i++)
        *--s = 0;
    return (uint64_t)s;
}

#define IDLE_STACK_SIZE 8192
KSTACK_DEFINE(idle_stack0, IDLE_STACK_SIZE);

uint8_t *arch_idle_kstack(void)
{
    return idle_stack0_area + 4096 + IDLE_STACK_SIZE;
}

uint64_t arch_uctx_fork(uint8_t *top, const uint8_t *parent_top)
{
    const struct trap_frame *pf = (const struct trap_frame *)(parent_top - sizeof(*pf));
    uint64_t sp = arch_uctx_new(top, pf->rip, pf->rsp, 0, 0);
    struct trap_frame *f = (struct trap_frame *)(top - sizeof(*f));
    *f = *pf;
    f->rax = 0;
    return sp;
}

void arch_user_activate(struct vmm_space *s)
{
    arch_mmu_activate(s);
    /* arch_mmu_activate skips the switch when its record of the live space
     * (one for the whole machine, until the VMM keeps one per CPU) already
     * names s, as it does when another CPU made s live last. CR3 is what
     * counts on this CPU: make sure it holds s. */
    paddr_t want = (s ? s : vmm_space_kernel())->pml4;
    if ((read_cr3() & ~(uint64_t)PAGE_MASK) != want)
        write_cr3(want);
}

void arch_set_kernel_stack(uint8_t *top)
{
    cpu_set_rsp0((uint64_t)top);
}

int arch_copy_user(void *dst, const void *src, size_t n)
{
    if (smap_on)
        __asm__ volatile("stac" ::: "memory");
    int rc = arch_safe_copy(dst, src, n);
    if (smap_on)
        __asm__ volatile("clac" ::: "memory");
    return rc;
}
