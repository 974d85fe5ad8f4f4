/*
 * Machine-level services for generic code: bring-up, halt, reboot, leaving
 * an emulator, backtraces and symbol lookup.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/printk.h>

#include "console.h"
#include "cpu.h"
#include "smp.h"
#include "x86.h"

struct ksym {
    uint64_t addr;
    const char *name;
};
/* Generated from the first link by the GNUmakefile (build/ksyms.c). */
extern const struct ksym ksyms[];
extern const size_t ksyms_count;
extern const uint8_t __text_start[], __text_end[];

void arch_early_init(void)
{
    smp_early_init(); /* GS -> the boot CPU's struct cpu, before anything prints */
    serial_init();
    vga_init();
    gdt_init();
    idt_init();
    mce_init(); /* after the IDT: a #MC now has a handler to go to */
}

void arch_halt(void)
{
    for (;;) {
        cli();
        hlt();
    }
}

void arch_reboot(void)
{
    cli();
    serial_drain();
    /* Pulse the CPU reset line through the 8042 controller. */
    for (int i = 0; i < 100000 && (inb(0x64) & 0x02); i++)
        ;
    outb(0x64, 0xFE);
    /* If that did nothing, an empty IDT and an interrupt reset the CPU. */
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) none = {0, 0};
    __asm__ volatile("lidt %0; int3" ::"m"(none));
    arch_halt();
}

void arch_emulator_exit(bool success)
{
    cli();
    serial_drain();
    /* On a real PC these ports may belong to something; there we just halt
     * with the summary on the screen. */
    if (cpu_is_emulated()) {
        outl(0xF4, success ? 0x10 : 0x11); /* QEMU isa-debug-exit */
        for (const char *s = "Shutdown"; *s; s++) /* Bochs */
            outb(0x8900, (uint8_t)*s);
    }
    printk("%s: halted\n", success ? "done" : "failed");
    arch_halt();
}

const char *ksym_lookup(uint64_t addr, uint64_t *offset)
{
    if (addr < (uint64_t)__text_start || addr >= (uint64_t)__text_end || ksyms_count == 0)
        return NULL;
    /* Binary search for the last symbol at or below addr. */
    size_t lo = 0, hi = ksyms_count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ksyms[mid].addr <= addr)
            lo = mid;
        else
            hi = mid;
    }
    if (ksyms[lo].addr > addr)
        return NULL;
    if (offset)
        *offset = addr - ksyms[lo].addr;
    return ksyms[lo].name;
}

void arch_backtrace(uint64_t rbp)
{
    if (rbp == 0)
        rbp = (uint64_t)__builtin_frame_address(0);
    printk("backtrace:\n");
    /* Each frame is [saved rbp][return address]. Stop at a null or
     * misaligned frame, one outside the higher half, or after 32 frames.
     * The frame is read with arch_safe_copy: the rbp of a crashed context
     * may point anywhere, and a fault here, inside a fault report, would
     * turn one report into a fatal cascade (or, in the monitor, a fault
     * after the recovery point has been used). */
    for (int depth = 0; depth < 32; depth++) {
        if (rbp == 0 || (rbp & 7) || rbp < 0xffff800000000000ULL)
            break;
        uint64_t frame[2];
        if (arch_safe_copy(frame, (const void *)rbp, sizeof(frame)) != 0) {
            printk("  (frame at 0x%016llx unreadable)\n", (unsigned long long)rbp);
            break;
        }
        uint64_t ret = frame[1];
        if (ret == 0)
            break;
        uint64_t off = 0;
        const char *name = ksym_lookup(ret, &off);
        printk("  #%d 0x%016llx %s+0x%llx\n", depth, (unsigned long long)ret, name ? name : "?",
               (unsigned long long)off);
        if (frame[0] <= rbp)
            break; /* stacks grow down: a caller's frame is always higher */
        rbp = frame[0];
    }
}

bool arch_irq_save(void)
{
    bool on = read_rflags() & RFLAGS_IF;
    cli();
    return on;
}

void arch_irq_restore(bool was_on)
{
    if (was_on)
        sti();
}

void arch_cpu_report(void)
{
    printk("cpu: NX %s, 1 GiB pages %s, global pages %s\n",
           cpu_has_nx() ? "available" : "unavailable (pages stay executable)",
           cpu_has_1g_pages() ? "available" : "unavailable", cpu_has_pge() ? "available" : "unavailable");
    if (mce_enabled())
        printk("cpu: machine-check exceptions on, %u MCA banks\n", mce_banks());
    else
        printk("cpu: no machine-check exception (a machine check will reset the machine)\n");
}

const char *arch_emulator_name(void) { return cpu_emulator_name(); }

/* The same frame walk as arch_backtrace, kept instead of printed (the
 * sampled guard pages store an allocation's stack in its slot). */
unsigned arch_stack_capture(uintptr_t *pcs, unsigned max, unsigned skip)
{
    uint64_t rbp = (uint64_t)__builtin_frame_address(0);
    unsigned n = 0;
    for (unsigned depth = 0; depth < 32 && n < max; depth++) {
        if (rbp == 0 || (rbp & 7) || rbp < 0xffff800000000000ULL)
            break;
        uint64_t frame[2];
        if (arch_safe_copy(frame, (const void *)rbp, sizeof(frame)) != 0 || frame[1] == 0)
            break;
        if (depth >= skip)
            pcs[n++] = frame[1];
        if (frame[0] <= rbp)
            break;
        rbp = frame[0];
    }
    return n;
}

void arch_print_pc(unsigned i, uintptr_t pc)
{
    uint64_t off = 0;
    const char *name = ksym_lookup(pc, &off);
    printk("    #%u 0x%016llx %s+0x%llx\n", i, (unsigned long long)pc, name ? name : "?",
           (unsigned long long)off);
}
