/*
 * Monitor commands on processes: run, ps, vmmap, cont, kill, and walk with
 * a PID (the page-table walk in that process's space).
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <pagoda/memlayout.h>
#include <pagoda/parse.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>
#include <pagoda/vmm.h>

#include "monitor.h"
#include "proc.h"

/* How a wait ended (proc_wait_for's result), in one line. */
static void report_end(const char *name, int pid, int rc, int status, const char *report)
{
    if (rc == 0 && status == EXIT_KILLED)
        printk("run: %s (pid %d) was killed (%s)\n", name, pid, report);
    else if (rc == 0)
        printk("run: %s (pid %d) exited with status %d\n", name, pid, status);
    else if (rc == 1)
        printk("run: %s (pid %d) stopped: `cont %d` resumes it, `kill %d` ends it\n", name, pid,
               pid, pid);
    else
        printk("run: %s (pid %d) is blocked on a stopped process: cont it, or kill %d\n", name, pid,
               pid);
}

static void wait_and_report(int pid, const char *name)
{
    int status = 0;
    char report[200] = "";
    char nm[PROC_NAME_MAX];
    kstrlcpy(nm, name, sizeof(nm));
    int rc = proc_wait_for(pid, &status, report, sizeof(report));
    report_end(nm, pid, rc, status, report);
}

void mon_cmd_run(int argc, char **argv)
{
    proc_recover_kernel_thread();
    uint64_t before = proc_free_frames();
    struct proc *p = proc_spawn(argv[1], argc - 1, argv + 1);
    if (!p)
        return;
    printk("run: %s is pid %d\n", p->name, p->pid);
    wait_and_report(p->pid, argv[1]);
    uint64_t after = proc_free_frames();
    if (!proc_find(p->pid) || p->state == P_FREE)
        printk("run: free frames %llu before, %llu after\n", (unsigned long long)before,
               (unsigned long long)after);
}

void mon_cmd_cont(int argc, char **argv)
{
    proc_recover_kernel_thread();
    uint64_t pid;
    if (!mon_num(argv[1], "pid", &pid))
        return;
    struct proc *p = proc_find((int)pid);
    if (!p || proc_continue((int)pid)) {
        printk("cont: no stopped process %llu\n", (unsigned long long)pid);
        return;
    }
    printk("cont: pid %d continues\n", p->pid);
    if (p->parent == &proc_table[0])
        wait_and_report(p->pid, p->name);
}

void mon_cmd_kill(int argc, char **argv)
{
    proc_recover_kernel_thread();
    uint64_t pid;
    if (!mon_num(argv[1], "pid", &pid))
        return;
    struct proc *p = proc_find((int)pid);
    if (!p || pid == 0 || proc_kill((int)pid)) {
        printk("kill: no process %llu to kill\n", (unsigned long long)pid);
        return;
    }
    if (p->parent == &proc_table[0])
        wait_and_report((int)pid, p->name);
}

void mon_cmd_ps(int argc, char **argv)
{
    proc_recover_kernel_thread();
    /* CPU: where it runs now (running) or ran last; '-' if it never ran. */
    printk("%5s %5s %-9s %3s %7s %7s %s\n", "PID", "PPID", "STATE", "CPU", "TICKS", "FRAMES",
           "NAME");
    for (int i = 0; i < PROC_MAX; i++) {
        struct proc *p = &proc_table[i];
        if (p->state == P_FREE || p->state == P_DEAD)
            continue;
        char cpu[8] = "-";
        if (p->cpu >= 0)
            ksnprintf(cpu, sizeof(cpu), "%d", p->cpu);
        printk("%5d %5d %-9s %3s %7llu %7llu %s\n", p->pid, p->parent ? p->parent->pid : -1,
               proc_state_name(p->state), cpu, (unsigned long long)p->ticks,
               (unsigned long long)(p->has_as ? p->as.frames : 0), p->name);
    }
}

static struct proc *live(const char *arg)
{
    uint64_t pid;
    if (!mon_num(arg, "pid", &pid))
        return NULL;
    struct proc *p = proc_find((int)pid);
    if (!p || !p->has_as) {
        printk("no live process %llu with an address space (ps lists them)\n",
               (unsigned long long)pid);
        return NULL;
    }
    return p;
}

void mon_cmd_vmmap(int argc, char **argv)
{
    struct proc *p = live(argv[1]);
    if (!p)
        return;
    struct vm_as *as = &p->as;
    printk("pid %d (%s): %u regions, %llu frames (limit %llu)\n", p->pid, p->name, as->nregions,
           (unsigned long long)as->frames, (unsigned long long)as->frame_limit);
    printk("  %-33s %-4s %-5s %-13s %8s %5s %6s\n", "range", "perm", "kind", "backing", "resident",
           "zero", "shared");
    struct vm_usage t = {0};
    for (unsigned i = 0; i < as->nregions; i++) {
        const struct vm_region *r = &as->r[i];
        struct vm_usage u;
        vm_usage(as, r, &u);
        t.resident += u.resident;
        t.zero += u.zero;
        t.shared += u.shared;
        char backing[16];
        ksnprintf(backing, sizeof(backing), "%s%s", vm_backing_name(r), u.shared ? "+cow" : "");
        printk("  %016llx-%016llx %c%c%c  %-5s %-13s %8llu %5llu %6llu\n",
               (unsigned long long)r->start, (unsigned long long)r->end, r->prot & VM_R ? 'r' : '-',
               r->prot & VM_W ? 'w' : '-', r->prot & VM_X ? 'x' : '-', vm_kind_name(r->kind),
               backing, (unsigned long long)u.resident, (unsigned long long)u.zero,
               (unsigned long long)u.shared);
    }
    printk("  total: %llu resident, %llu zero-mapped, %llu shared pages\n",
           (unsigned long long)t.resident, (unsigned long long)t.zero,
           (unsigned long long)t.shared);
    printk("  faults: %llu demand, %llu zero-page maps, %llu zero breaks, %llu cow copies, "
           "%llu cow takeovers\n",
           (unsigned long long)as->c.demand_faults, (unsigned long long)as->c.zero_maps,
           (unsigned long long)as->c.zero_breaks, (unsigned long long)as->c.cow_copies,
           (unsigned long long)as->c.cow_takeovers);
}

void mon_cmd_walk_pid(int argc, char **argv)
{
    if (argc < 3) {
        mon_cmd_walk(argc, argv);
        return;
    }
    uint64_t pid;
    struct proc *p = parse_u64(argv[2], &pid) == 0 ? proc_find((int)pid) : NULL;
    if (!p || !p->has_as) {
        printk("usage: walk VA [PID]: '%s' is no live process (ps lists them)\n", argv[2]);
        return;
    }
    printk("in the address space of pid %d (%s):\n", p->pid, p->name);
    bool irq = arch_irq_save();
    arch_mmu_activate(p->as.mmu);
    mon_cmd_walk(2, argv);
    arch_mmu_activate(NULL);
    arch_irq_restore(irq);
}
