/*
 * The kernel monitor: read a line, split it into words, find the command,
 * check its argument count, run it, and come back to the prompt whatever
 * happens.
 *
 * "Whatever happens" has three layers. Commands validate their arguments
 * and print a clear message for bad input (mon_num, mon_va, mon_count).
 * peek and poke go through arch_safe_copy/arch_safe_store, which turn a
 * fault into an error code. And every command runs under a recovery point
 * (arch_recover_arm): an exception inside it is reported, decoded, and the
 * command is abandoned instead of the kernel; so is a panic() inside it
 * (the VMM's page-fault report ends in one), after its report.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <arch/paging.h>
#include <pagoda/errno.h>
#include <pagoda/kbench.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/monitor.h>
#include <pagoda/parse.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "monitor.h"
#include "proc.h"
#include "vmm_demo.h"

static void cmd_help(int argc, char **argv);
static void cmd_test(int argc, char **argv);
static void cmd_bench(int argc, char **argv);
static void cmd_fault(int argc, char **argv);
static void cmd_uptime(int argc, char **argv);
static void cmd_reboot(int argc, char **argv);
static void cmd_halt(int argc, char **argv);

/* The forced forms: the same commands without the monitor's refusals (help
 * lists them on one line, to keep the list on one VGA screen). */
static const struct mon_cmd forced[] = {
    {"map!", "VA PA [rwxugc]", "", 2, 3, mon_cmd_map},
    {"free!", "PA N", "", 2, 2, mon_cmd_free},
    {"poke!", "VA VALUE [SIZE]", "", 2, 3, mon_cmd_poke},
};

/* User processes (monitor_proc.c): `help run` lists them, so that `help`
 * still fits on one VGA screen. */
static const struct mon_cmd procs[] = {
    {"run", "NAME [ARGS]", "run a user program (a boot module) and wait for it", 1, 7, mon_cmd_run},
    {"ps", "", "list the processes", 0, 0, mon_cmd_ps},
    {"vmmap", "PID", "a process's regions: range, permissions, backing, pages", 1, 1,
     mon_cmd_vmmap},
    {"walk", "VA PID", "the page-table walk for VA in PID's address space", 2, 2,
     mon_cmd_walk_pid}, /* (only listed: `walk` in commands[] takes both forms) */
    {"cont", "PID", "continue a stopped process (waiting for it if run started it)", 1, 1,
     mon_cmd_cont},
    {"kill", "PID", "kill a process", 1, 1, mon_cmd_kill},
};

static const struct mon_cmd commands[] = {
    {"help", "", "list the commands", 0, 1, cmd_help},
    {"mem", "", "physical memory totals, heap statistics", 0, 0, mon_cmd_mem},
    {"memmap", "", "boot memory map, a bar of frame use per region", 0, 0, mon_cmd_memmap},
    {"walk", "VA", "the page-table walk for VA (walk VA PID: in its space)", 1, 2,
     mon_cmd_walk_pid},
    {"map", "VA PA [rwxugc]", "map page VA to frame PA (default r: read-only, NX)", 2, 3,
     mon_cmd_map},
    {"unmap", "VA", "unmap page VA (its frame stays allocated)", 1, 1, mon_cmd_unmap},
    {"alloc", "N", "allocate N contiguous physical frames", 1, 1, mon_cmd_alloc},
    {"free", "PA N", "free N frames at PA (a bad free is refused)", 2, 2, mon_cmd_free},
    {"kmalloc", "N", "allocate N bytes from the kernel heap", 1, 1, mon_cmd_kmalloc},
    {"kfree", "VA", "free a kmalloc block (a bad pointer is refused)", 1, 1, mon_cmd_kfree},
    {"heap", "", "kernel heap statistics", 0, 0, mon_cmd_heap},
    {"slabinfo", "", "the slab caches", 0, 0, mon_cmd_slabinfo},
    {"peek", "VA [N]", "hex dump of N bytes at VA (default 64, max 4096)", 1, 2, mon_cmd_peek},
    {"poke", "VA VALUE [SIZE]", "store VALUE at VA in SIZE (1/2/4/8, default 8) bytes", 2, 3,
     mon_cmd_poke},
    {"test", "[PREFIX]", "run the in-kernel tests (names starting PREFIX)", 0, 1, cmd_test},
    {"bench", "", "run the allocator benchmarks", 0, 0, cmd_bench},
    {"fault", "KIND", "a fault demonstration (fault list: the kinds)", 1, 1, cmd_fault},
    {"uptime", "", "timer ticks since the monitor started", 0, 0, cmd_uptime},
    {"cpus", "", "each CPU: APIC id, state, LAPIC ticks, IPIs", 0, 0, mon_cmd_cpus},
    {"reboot", "", "reset the machine", 0, 0, cmd_reboot},
    {"halt", "", "stop (leaves QEMU/Bochs with success)", 0, 0, cmd_halt},
};

/* ---- argument helpers ------------------------------------------------ */

bool mon_num(const char *arg, const char *what, uint64_t *out)
{
    int err = parse_u64(arg, out);
    if (err == -E_OVERFLOW)
        printk("%s '%s' does not fit in 64 bits\n", what, arg);
    else if (err)
        printk("bad %s '%s': expected a decimal or 0x-prefixed hex number\n", what, arg);
    return err == 0;
}

bool mon_va(const char *arg, vaddr_t *out)
{
    if (!mon_num(arg, "address", out))
        return false;
    if (!arch_va_canonical(*out)) {
        printk("0x%llx is not a canonical address (bits 63..47 must all be equal)\n",
               (unsigned long long)*out);
        return false;
    }
    return true;
}

bool mon_count(const char *arg, const char *what, uint64_t max, uint64_t *out)
{
    if (!mon_num(arg, what, out))
        return false;
    if (*out == 0 || *out > max) {
        printk("%s %llu is out of range: expected 1..%llu\n", what, (unsigned long long)*out,
               (unsigned long long)max);
        return false;
    }
    return true;
}

void mon_unavailable(const char *what)
{
    printk("%s: not available in this build\n", what);
}

const char *mon_kernel_region(vaddr_t va)
{
    if (va >= KERNEL_VMA)
        return "the kernel image and temp-map window";
    if (pg_l4(va) == RECURSIVE_SLOT)
        return "the recursive page-table window";
    if (pg_l4(va) == FOREIGN_SLOT)
        return "the foreign page-table window";
    if (va >= KVA_BASE && va < KVA_LIMIT)
        return "the kernel virtual ranges (vmm_alloc)";
    if (va >= KHEAP_BASE && va < KHEAP_LIMIT)
        return "the kernel heap";
    if (va >= PMM_BITMAP_BASE && va < KHEAP_BASE)
        return "the PMM bitmap window";
    return NULL;
}

/* ---- small commands -------------------------------------------------- */

static void help_line(const struct mon_cmd *c)
{
    char left[32];
    ksnprintf(left, sizeof(left), "%s %s", c->name, c->usage);
    printk("  %-21s %s\n", left, c->help);
}

static void cmd_help(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "run") != 0) {
            printk("help: `help` lists the commands, `help run` the process commands\n");
            return;
        }
        printk("User programs (boot modules), processes and their memory; Ctrl-C stops `run`:\n");
        for (size_t i = 0; i < ARRAY_SIZE(procs); i++)
            help_line(&procs[i]);
        return;
    }
    printk("Commands (numbers are decimal or 0x-hex; user programs: help run):\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        help_line(&commands[i]);
    printk("map!, free!, poke!: the same, even on what the kernel uses (with a warning).\n");
    printk("Keys: Backspace, Ctrl-U erase line, Ctrl-C cancel, Up/Down history.\n");
}

static void cmd_test(int argc, char **argv)
{
    const char *prefix = argc > 1 ? argv[1] : "";
    int failures = ktest_run(prefix);
    printk("%s\n", failures ? "some tests FAILED" : "all selected tests passed");
}

static void cmd_bench(int argc, char **argv)
{
    kbench_run();
}

static void cmd_fault(int argc, char **argv)
{
    fault_demo_run(argv[1]); /* the fatal kinds come back through the recovery point */
}

static void cmd_uptime(int argc, char **argv)
{
    uint64_t t = arch_ticks();
    printk("%llu ticks at %u Hz: %llu.%02llu s since the monitor started\n", (unsigned long long)t,
           ARCH_TICK_HZ, (unsigned long long)(t / ARCH_TICK_HZ),
           (unsigned long long)(t % ARCH_TICK_HZ * 100 / ARCH_TICK_HZ));
}

static void cmd_reboot(int argc, char **argv)
{
    printk("rebooting\n");
    arch_reboot();
}

static void cmd_halt(int argc, char **argv)
{
    if (arch_emulator_name()) {
        printk("halting: leaving %s\n", arch_emulator_name());
        arch_emulator_exit(true);
    }
    printk("halted. It is now safe to turn off the machine.\n");
    arch_halt();
}

/* ---- the loop -------------------------------------------------------- */

static const struct mon_cmd *lookup(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    for (size_t i = 0; i < ARRAY_SIZE(forced); i++)
        if (strcmp(forced[i].name, name) == 0)
            return &forced[i];
    for (size_t i = 0; i < ARRAY_SIZE(procs); i++)
        if (strcmp(procs[i].name, name) == 0)
            return &procs[i];
    return NULL;
}

static void run_line(char *line)
{
    char *argv[MON_ARGS_MAX];
    int argc = parse_split(line, argv, MON_ARGS_MAX);
    if (argc < 0) {
        printk("too many words (at most %d)\n", MON_ARGS_MAX);
        return;
    }
    if (argc == 0)
        return;
    const struct mon_cmd *cmd = lookup(argv[0]);
    if (!cmd) {
        printk("unknown command '%s' (try help)\n", argv[0]);
        return;
    }
    if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args) {
        printk("usage: %s %s\n", cmd->name, cmd->usage);
        return;
    }
    struct arch_recover point;
    int how = arch_recover_arm(&point);
    if (how == 0) {
        cmd->fn(argc, argv);
        arch_recover_disarm(&point);
    } else {
        printk("monitor: '%s' was stopped by that %s; back to the prompt%s\n", cmd->name,
               how == 1 ? "fault" : "panic",
               how == 1 ? "" : " (what panicked may have been left half done)");
    }
}

void monitor_run(void)
{
    char line[MON_LINE_MAX];

    arch_input_start();
    printk("\nPagoda is up. This is its monitor: type help for the commands.\n");
    for (;;) {
        mon_readline("pagoda> ", line, sizeof(line));
        run_line(line);
    }
}
