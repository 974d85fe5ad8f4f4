/*
 * kmain: from the trampoline to a running kernel.
 *
 * The order matters: consoles and exception handlers first, so that every
 * later failure is reported; then the boot information, turned into the
 * stivale2-style struct that everything after reads; then memory.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/bootinfo.h>
#include <pagoda/kbench.h>
#include <pagoda/kernel.h>
#include <pagoda/ktest.h>
#include <pagoda/monitor.h>
#include <pagoda/parse.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>
#include <pagoda/watchdog.h>

#include "kheap_source.h"
#include "memcheck_boot.h"
#include "proc.h"
#include "soak.h"
#include "vmm_demo.h"

bool kernel_exit_on_panic;

/* `crash=stall`: spin with interrupts on under a 2-second watchdog, as a
 * hung test would, inside a recovery point as a test's may be; the
 * watchdog's report must end the boot, not come back here. */
__attribute__((noinline, noreturn)) static void stall_forever(void)
{
    static struct arch_recover r;
    if (arch_recover_arm(&r)) {
        printk("crash=stall: the watchdog's panic came back to a recovery point\n");
        arch_emulator_exit(false);
    }
    watchdog_arm("crash=stall", 2);
    arch_irq_restore(true);
    for (;;)
        __asm__ volatile("pause" ::: "memory");
}

/* `crash=panic|ud|pf|stall`: exercise the fatal paths (tests/boot checks them). */
__attribute__((noinline)) static void crash(const char *how)
{
    kernel_exit_on_panic = true;
    printk("crash: %s requested on the command line\n", how);
    if (strcmp(how, "panic") == 0)
        panic("crash test requested on the command line");
    if (strcmp(how, "ud") == 0)
        __asm__ volatile("ud2");
    if (strcmp(how, "pf") == 0)
        *(volatile uint64_t *)0xffff900000000000ULL = 1; /* never mapped */
    if (strcmp(how, "stall") == 0)
        stall_forever();
    panic("crash: unknown kind '%s' (panic, ud, pf, stall)", how);
}

static void run_tests_and_exit(const char *prefix)
{
    printk("Running in-kernel tests%s%s\n", *prefix ? " with prefix " : "", prefix);
    int failures = ktest_run(prefix);
    arch_emulator_exit(failures == 0);
}

void kmain(uint32_t magic, uint32_t mbi_phys)
{
    char arg[64];

    arch_early_init();
    boot_info_init(magic, mbi_phys); /* the stivale2 struct: boot_info_get() */
    cmdline_set(boot_info_cmdline());

    const char *emu = arch_emulator_name();
    const char *loader = boot_info_loader();
    printk("Pagoda %s (x86_64), booted by %s%s%s\n", PAGODA_VERSION,
           loader ? loader : "an unnamed Multiboot2 loader", emu ? ", running on " : "",
           emu ? emu : "");
    arch_cpu_report();

    const char *test = cmdline_get("test", arg, sizeof(arg));
    if (test || cmdline_get("fault", arg, sizeof(arg)) || cmdline_get("soak", arg, sizeof(arg)))
        kernel_exit_on_panic = true;
    boot_info_print(); /* the memory map, modules, ...; panics without a map */
    pmm_init(boot_info_get());
    monitor_save_bootinfo(boot_info_get()); /* memmap's copy, before any reclaim */

    vmm_init();
    arch_fb_console_init(); /* the framebuffer is device memory: mapped by the VMM */
    kheap_boot_init(); /* the heap: after the VMM it grows through */
    memcheck_boot_init(); /* sampled guard pages (heap_sample=), pmm_check= */
    pmm_reclaim_bootloader(); /* the adapter copied all it needs from the info */
    proc_init(); /* user processes: ring 3, the zero frame, frame references */
    vmm_demo_craftyos();
    kheap_demo_string();
    smp_init(); /* every CPU into its idle loop: "smp: N CPUs online" */

    if (test)
        run_tests_and_exit(test);
    if (cmdline_get("soak", arg, sizeof(arg))) { /* the SMP stress soak, then leave */
        uint64_t secs;
        if (parse_u64(arg, &secs) != 0 || secs == 0 || secs > SOAK_MAX_SECONDS) {
            printk("soak: '%s' is not a number of seconds from 1 to %u\n", arg, SOAK_MAX_SECONDS);
            arch_emulator_exit(false);
        }
        soak_run_and_exit((unsigned)secs);
    }
    if (cmdline_get("bench", arg, sizeof(arg))) { /* time the allocators, then leave */
        kernel_exit_on_panic = true;
        kbench_run();
        arch_emulator_exit(true);
    }
    if (cmdline_get("crash", arg, sizeof(arg)))
        crash(arg);

    char fault[16];
    if (cmdline_get("fault", fault, sizeof(fault))) {
        fault_demo_run(fault);
        arch_emulator_exit(false); /* only an unknown kind comes back */
    }

    monitor_run(); /* interactive use: the kernel monitor, for good */
}
