/*
 * Processes: the slot table, starting a program from a Multiboot2 module,
 * fork, exit, wait, stop/continue/kill, and the reports of user faults.
 *
 * Life of a process: proc_spawn loads the ELF into a fresh space, adds the
 * stack (demand-paged, a guard gap below it) and forges a user context on
 * the slot's kernel stack; the scheduler switches to it. It ends in
 * proc_exit, called by the exit system call or by a fault it cannot
 * survive (proc_die): the space is destroyed there, at once, so every frame
 * and table goes back to the PMM before anyone waits; the slot stays a
 * zombie until its parent's wait takes the status. A process whose parent
 * is gone is freed by the scheduler instead (P_DEAD), once it is no longer
 * running on its kernel stack.
 *
 * Interrupts are off throughout (see proc.h); the kernel thread turns them
 * off around its calls. States change under sched_lock, which is dropped
 * around anything that allocates or frees (loading, fork, destroying a
 * space): a slot being set up or torn down is in a state no CPU picks
 * (P_STOPPED before it first runs, P_DEAD while a killed one is freed).
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/monitor.h>
#include <arch/user.h>
#include <pagoda/bootinfo.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/spinlock.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>
#include <pagoda/vmm.h>

#include "proc.h"

struct proc proc_table[PROC_MAX];
static int next_pid = 1;

uint64_t proc_free_frames(void)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    return st.free_pages;
}

void proc_init(void)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    /* User frames all come from below MMU_FRAME_LIMIT: count those only. */
    size_t nframes =
        (size_t)MIN(st.usable_pages + st.reserved_pages, MMU_FRAME_LIMIT >> PAGE_SHIFT);
    uint16_t *refs = vmm_alloc(nframes * sizeof(uint16_t), VMM_WRITE | VMM_NX);
    paddr_t zero = (paddr_t)pmm_allocz(1);
    if (!refs || !zero)
        panic("proc_init: no memory for the frame references or the zero frame");
    vm_init(refs, nframes, zero);
    arch_user_init();
    struct proc *k = &proc_table[0];
    k->pid = 0;
    k->state = P_RUNNING;
    kstrlcpy(k->name, "kernel", sizeof(k->name));
    sched_init(k);
    printk("proc: %d process slots; ring 3 with %s; zero frame at 0x%llx\n", PROC_MAX - 1,
           arch_user_features(), (unsigned long long)zero);
}

const char *proc_state_name(enum proc_state s)
{
    static const char *const n[] = {"free",    "runnable", "running", "waiting",
                                    "stopped", "zombie",   "dead"};
    return (unsigned)s < ARRAY_SIZE(n) ? n[s] : "?";
}

struct proc *proc_find(int pid)
{
    for (int i = 0; i < PROC_MAX; i++)
        if (proc_table[i].state != P_FREE && proc_table[i].pid == pid)
            return &proc_table[i];
    return NULL;
}

static struct proc *slot_alloc(void)
{
    spin_lock(&sched_lock);
    for (int i = 1; i < PROC_MAX; i++) {
        struct proc *p = &proc_table[i];
        if (p->state == P_DEAD && !p->on_cpu)
            p->state = P_FREE;
        if (p->state != P_FREE || p->on_cpu)
            continue;
        memset(p, 0, sizeof(*p));
        p->pid = next_pid++;
        p->cpu = -1;
        p->kstack_top = arch_proc_kstack((unsigned)i - 1);
        p->state = P_STOPPED; /* not runnable until set up */
        spin_unlock(&sched_lock);
        return p;
    }
    spin_unlock(&sched_lock);
    return NULL;
}

/* A slot set up outside the lock becomes runnable (on the boot CPU until
 * its first tick: sched.c), or goes back. */
static void slot_set(struct proc *p, enum proc_state st)
{
    spin_lock(&sched_lock);
    p->state = st;
    p->boot_only = st == P_RUNNABLE;
    spin_unlock(&sched_lock);
}

/* ---- programs from modules ---------------------------------------------- */

static const struct stivale2_module *find_module(const char *name)
{
    struct stivale2_struct_tag_modules *mt =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_MODULES_ID);
    for (uint64_t i = 0; mt && i < mt->module_count; i++) {
        const char *s = mt->modules[i].string, *slash = strchr(s, '/');
        while (slash) {
            s = slash + 1;
            slash = strchr(s, '/');
        }
        if (strcmp(s, name) == 0)
            return &mt->modules[i];
    }
    return NULL;
}

const void *proc_module_lookup(const char *name)
{
    return find_module(name);
}

/* Modules are physically contiguous; read them page by page through the
 * temp window (the boot identity map is gone). */
static int module_read(void *ctx, uint64_t off, void *dst, size_t n)
{
    const struct stivale2_module *m = ctx;
    uint8_t *d = dst;
    paddr_t pa = m->begin + off;
    while (n) {
        size_t chunk = MIN(n, (size_t)(PAGE_SIZE - (pa & PAGE_MASK)));
        const uint8_t *s = vmm_map_temp(pa);
        memcpy(d, s, chunk);
        vmm_unmap_temp((void *)s);
        d += chunk;
        pa += chunk;
        n -= chunk;
    }
    return 0;
}

/* argv strings and the argv array on the top stack page; returns the
 * stack pointer (16-aligned) and the array's address in *uargv. */
static vaddr_t push_args(struct proc *p, int argc, char **argv, vaddr_t *uargv)
{
    static uint8_t page[PAGE_SIZE];
    memset(page, 0, sizeof(page));
    vaddr_t base = USER_STACK_TOP - PAGE_SIZE;
    size_t at = PAGE_SIZE;
    uint64_t ptrs[PROC_ARGS_MAX + 1] = {0};
    for (int i = 0; i < argc && i < PROC_ARGS_MAX; i++) {
        size_t len = strnlen(argv[i], 128) + 1;
        at -= len;
        memcpy(page + at, argv[i], len - 1);
        ptrs[i] = base + at;
    }
    at = ALIGN_DOWN(at, 16) - sizeof(ptrs);
    memcpy(page + at, ptrs, sizeof(ptrs));
    *uargv = base + at;
    if (vm_write_page(&p->as, base, page, PAGE_SIZE))
        return 0;
    return base + ALIGN_DOWN(at, 16) - 16;
}

struct proc *proc_spawn(const char *name, int argc, char **argv)
{
    arch_user_timer_start(); /* (it turns interrupts on the first time) */
    bool irq = arch_irq_save();
    struct proc *p = NULL;
    const struct stivale2_module *m = find_module(name);
    if (!m) {
        printk("run: no program '%s' (it must be a Multiboot2 module)\n", name);
        goto out;
    }
    p = slot_alloc();
    if (!p) {
        printk("run: no free process slot (%d in use)\n", PROC_MAX - 1);
        goto out;
    }
    kstrlcpy(p->name, name, sizeof(p->name));
    if (vm_as_init(&p->as, USER_FRAME_LIMIT)) {
        printk("run: %s: no memory for an address space\n", name);
        goto fail;
    }
    p->has_as = true;
    struct elf_reader rd = {m->end - m->begin, module_read, (void *)m};
    vaddr_t entry, end, uargv;
    char err[128];
    if (elf_load(&p->as, &rd, &entry, &end, err, sizeof(err))) {
        printk("run: %s: not loaded: %s\n", name, err);
        goto fail;
    }
    p->heap_base = p->brk = end;
    vaddr_t sp;
    if (vm_region_add(&p->as, USER_STACK_TOP - USER_STACK_MAX - USER_GUARD_GAP,
                      USER_STACK_TOP - USER_STACK_MAX, 0, VM_BACK_DEMAND, VM_GUARD) ||
        vm_region_add(&p->as, USER_STACK_TOP - USER_STACK_MAX, USER_STACK_TOP, VM_R | VM_W,
                      VM_BACK_DEMAND, VM_STACK) ||
        !(sp = push_args(p, argc, argv, &uargv))) {
        printk("run: %s: no memory for its stack\n", name);
        goto fail;
    }
    p->ctx = arch_uctx_new(p->kstack_top, entry, sp, (uint64_t)MIN(argc, PROC_ARGS_MAX), uargv);
    p->parent = proc_current();
    slot_set(p, P_RUNNABLE);
    goto out;
fail:
    if (p->has_as)
        vm_as_destroy(&p->as);
    p->has_as = false;
    slot_set(p, P_FREE);
    p = NULL;
out:
    arch_irq_restore(irq);
    return p;
}

void proc_recover_kernel_thread(void)
{
    bool irq = arch_irq_save();
    struct cpu *c = this_cpu();
    struct proc *p = c->proc, *k = &proc_table[0];
    if (p != k && !sched_is_idle_thread(p)) {
        /* The monitor's recovery point came back from a fault or panic in
         * p's system call: p's kernel stack is abandoned mid-call. */
        printk("proc: pid %d (%s) was cut short in the kernel; it is killed\n", p->pid, p->name);
        /* Cut short inside a fault or a system call on its space, it may
         * still hold the space's lock: let go of it before the space goes
         * (the scheduler's lock is never held by a process's own code). */
        if (p->has_as && spin_held(&p->as.lock))
            spin_unlock(&p->as.lock);
        arch_user_activate(NULL);
        if (p->has_as)
            vm_as_destroy(&p->as);
        p->has_as = false;
        p->exit_status = EXIT_KILLED;
        kstrlcpy(p->report, "cut short in the kernel", sizeof(p->report));
        spin_lock(&sched_lock);
        p->state = p->parent ? P_ZOMBIE : P_FREE;
        p->on_cpu = false;
        c->proc = k;
        k->on_cpu = true;
        k->cpu = 0;
        spin_unlock(&sched_lock);
    }
    spin_lock(&sched_lock);
    k->state = P_RUNNING;
    spin_unlock(&sched_lock);
    arch_irq_restore(irq);
}

/* ---- fork, exit, wait --------------------------------------------------- */

int proc_fork(struct proc *p)
{
    struct proc *c = slot_alloc();
    if (!c)
        return -EAGAIN;
    if (vm_as_init(&c->as, p->as.frame_limit)) {
        slot_set(c, P_FREE);
        return -EAGAIN;
    }
    c->has_as = true;
    if (vm_as_fork(&c->as, &p->as)) {
        vm_as_destroy(&c->as);
        slot_set(c, P_FREE);
        return -ENOMEM;
    }
    kstrlcpy(c->name, p->name, sizeof(c->name));
    c->heap_base = p->heap_base;
    c->brk = p->brk;
    c->parent = p;
    c->ctx = arch_uctx_fork(c->kstack_top, p->kstack_top);
    int pid = c->pid;
    slot_set(c, P_RUNNABLE);
    return pid;
}

static void wake(struct proc *parent, struct proc *child, bool stop)
{
    if (parent && parent->state == P_WAITING &&
        (parent->wait_pid == -1 || parent->wait_pid == child->pid) && (!stop || parent->wait_stops))
        parent->state = P_RUNNABLE;
}

/* Free p's memory. p runs here (it is the caller) or is switched out in a
 * state no CPU picks. No lock held: freeing may wait for other CPUs. */
static void free_memory(struct proc *p, bool running)
{
    if (!p->has_as)
        return;
    if (running)
        arch_user_activate(NULL);
    vm_as_destroy(&p->as);
    p->has_as = false;
}

/* End p (its memory already freed): orphan its children, and leave a
 * zombie for its parent (or nothing). A running p becomes P_DEAD instead of
 * free, for the scheduler to reclaim once it is off p's kernel stack.
 * sched_lock held. */
static void release(struct proc *p, int status, bool running)
{
    for (int i = 1; i < PROC_MAX; i++) {
        struct proc *c = &proc_table[i];
        if (c->state == P_FREE || c->parent != p)
            continue;
        c->parent = NULL;
        if (c->state == P_ZOMBIE)
            c->state = P_FREE;
    }
    p->exit_status = status;
    if (p->parent) {
        p->state = P_ZOMBIE;
        wake(p->parent, p, false);
    } else {
        p->state = running ? P_DEAD : P_FREE;
    }
}

void proc_exit(struct proc *p, int status)
{
    arch_irq_save();
    sched_kernel_enter(p);
    free_memory(p, true);
    spin_lock(&sched_lock);
    release(p, status, true);
    schedule_locked(); /* (the lock stays held until the switch is done) */
    panic("proc_exit: pid %d ran again after its exit", p->pid);
}

void proc_die(struct proc *p, const char *report)
{
    kstrlcpy(p->report, report, sizeof(p->report));
    printk("*** %s\n", report);
    proc_exit(p, EXIT_KILLED);
}

static void reap(struct proc *c, int *status, char *report, size_t size)
{
    if (status)
        *status = c->exit_status;
    if (report)
        kstrlcpy(report, c->report, size);
    c->state = P_FREE;
}

int proc_wait_child(struct proc *p, int *status)
{
    for (;;) {
        bool any = false;
        spin_lock(&sched_lock);
        for (int i = 1; i < PROC_MAX; i++) {
            struct proc *c = &proc_table[i];
            if (c->state == P_FREE || c->state == P_DEAD || c->parent != p)
                continue;
            any = true;
            if (c->state == P_ZOMBIE) {
                int pid = c->pid;
                reap(c, status, NULL, 0);
                spin_unlock(&sched_lock);
                return pid;
            }
        }
        if (!any) {
            spin_unlock(&sched_lock);
            return -ECHILD;
        }
        p->state = P_WAITING;
        p->wait_pid = -1;
        p->wait_stops = false;
        /* (a wake-up between here and the switch leaves p runnable: schedule
         * then simply goes on with it) */
        spin_unlock(&sched_lock);
        schedule();
    }
}

int proc_wait_for(int pid, int *status, char *report, size_t size)
{
    bool irq = arch_irq_save();
    struct proc *me = proc_current(), *c = proc_find(pid);
    int rc = -1;
    for (;;) {
        spin_lock(&sched_lock);
        if (!c || c->parent != me) {
            spin_unlock(&sched_lock);
            break;
        }
        if (c->state == P_ZOMBIE) {
            reap(c, status, report, size);
            rc = 0;
            spin_unlock(&sched_lock);
            break;
        }
        if (c->state == P_STOPPED) {
            rc = 1;
            spin_unlock(&sched_lock);
            break;
        }
        me->state = P_WAITING;
        me->wait_pid = pid;
        me->wait_stops = true;
        spin_unlock(&sched_lock);
        schedule();
        if (me->wait_pid == -2) { /* deadlocked on a stopped process */
            rc = 2;
            break;
        }
        if (me->poll) {
            me->poll = false;
            if (!c->kill_pending && arch_input_take_interrupt()) {
                printk("^C: killing pid %d (%s)\n", c->pid, c->name);
                kstrlcpy(c->report, "killed by Ctrl-C at the monitor", sizeof(c->report));
                proc_kill(pid);
            }
        }
    }
    arch_irq_restore(irq);
    return rc;
}

int proc_continue(int pid)
{
    bool irq = spin_lock_irqsave(&sched_lock);
    struct proc *p = proc_find(pid);
    int rc = -1;
    if (p && p->state == P_STOPPED && p->has_as) {
        p->state = P_RUNNABLE;
        rc = 0;
    }
    spin_unlock_irqrestore(&sched_lock, irq);
    return rc;
}

int proc_kill(int pid)
{
    bool irq = spin_lock_irqsave(&sched_lock);
    struct proc *p = proc_find(pid);
    int rc = -1;
    if (p && p->has_as && p->state != P_ZOMBIE && p->state != P_DEAD) {
        if (!p->report[0])
            kstrlcpy(p->report, "by the monitor's kill", sizeof(p->report));
        if (p->on_cpu) {
            p->kill_pending = true; /* (it dies at its next switch, on any CPU) */
        } else {
            /* Switched out, it holds nothing but its space and its slot: it
             * stopped in schedule() (a wait, stop, yield or a preempting
             * tick) or never ran. End it here and now; P_DEAD meanwhile, so
             * that no CPU picks it while its memory goes. */
            p->state = P_DEAD;
            spin_unlock(&sched_lock);
            char report[200];
            ksnprintf(report, sizeof(report), "killed: pid %d (%s): %s", p->pid, p->name,
                      p->report);
            kstrlcpy(p->report, report, sizeof(p->report));
            printk("*** %s\n", report);
            free_memory(p, false);
            spin_lock(&sched_lock);
            release(p, EXIT_KILLED, false);
        }
        rc = 0;
    }
    spin_unlock_irqrestore(&sched_lock, irq);
    return rc;
}

/* ---- what kills a process ----------------------------------------------- */

void proc_user_page_fault(vaddr_t addr, unsigned acc, uint64_t rip)
{
    struct proc *p = proc_current();
    sched_kernel_enter(p);
    int err = vm_fault(&p->as, addr, acc);
    if (err == 0) {
        sched_user_return(p);
        return;
    }
    const char *access = acc & VM_ACC_EXEC ? "exec" : acc & VM_ACC_WRITE ? "write" : "read";
    char where[96];
    struct vm_region *r = addr < USER_LIMIT ? vm_region_find(&p->as, addr) : NULL;
    if (r)
        ksnprintf(where, sizeof(where), "region %s [0x%llx-0x%llx %c%c%c]", vm_kind_name(r->kind),
                  (unsigned long long)r->start, (unsigned long long)r->end,
                  r->prot & VM_R ? 'r' : '-', r->prot & VM_W ? 'w' : '-',
                  r->prot & VM_X ? 'x' : '-');
    else
        ksnprintf(where, sizeof(where), "no region%s",
                  addr >= USER_LIMIT ? " (kernel memory)"
                  : addr < PAGE_SIZE ? " (NULL page)"
                                     : "");
    char why[80];
    if (err == -VMF_NOMEM)
        ksnprintf(why, sizeof(why), "%s (%s)", vm_fault_name(err),
                  p->as.frames >= p->as.frame_limit ? "its frame limit reached"
                                                    : "no free frame in the PMM");
    else
        kstrlcpy(why, vm_fault_name(err), sizeof(why));
    char report[200];
    ksnprintf(report, sizeof(report),
              "killed: pid %d (%s): page fault: %s at 0x%llx in %s: %s; rip 0x%llx", p->pid,
              p->name, access, (unsigned long long)addr, where, why, (unsigned long long)rip);
    proc_die(p, report);
}

void proc_user_exception(const char *what, uint64_t error, uint64_t rip)
{
    struct proc *p = proc_current();
    sched_kernel_enter(p);
    char report[200];
    ksnprintf(report, sizeof(report), "killed: pid %d (%s): %s (error 0x%llx); rip 0x%llx", p->pid,
              p->name, what, (unsigned long long)error, (unsigned long long)rip);
    proc_die(p, report);
}
