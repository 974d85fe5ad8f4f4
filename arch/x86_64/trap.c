/*
 * Trap dispatch and the fatal-exception report.
 *
 * An NMI is logged and survived. Otherwise a registered handler may claim a
 * trap (the VMM's demand paging, the monitor's safe peek); anything
 * unclaimed is fatal: we print the exception name (for a #MC, the machine-
 * check banks first), the decoded error code, every register, CR2/CR3 and a
 * backtrace, then halt, or leave the emulator with the failure status in
 * test/fault modes.
 */
#include <arch/arch.h>
#include <pagoda/kernel.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "console.h"
#include "cpu.h"
#include "recover.h"
#include "smp.h"
#include "x86.h"

#define TRAP_VECTORS 256
static trap_handler_t handlers[TRAP_VECTORS];
static volatile bool fatal_in_progress; /* the fatal report has begun */

static const char *const names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound range", "#UD invalid opcode", "#NM device not available",
    "#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
    "#NP segment not present", "#SS stack-segment fault", "#GP general protection",
    "#PF page fault", "reserved 15", "#MF x87 floating point", "#AC alignment check",
    "#MC machine check", "#XM SIMD floating point", "#VE virtualization",
    "#CP control protection", "reserved 22", "reserved 23", "reserved 24", "reserved 25",
    "reserved 26", "reserved 27", "#HV hypervisor injection", "#VC VMM communication",
    "#SX security", "reserved 31",
};

const char *trap_name(uint64_t v)
{
    if (v < 32)
        return names[v];
    return v < 48 ? "IRQ" : v < TRAP_VECTORS ? "interrupt" : "unknown vector";
}

void trap_set_handler(int vector, trap_handler_t h)
{
    if (vector >= 0 && vector < TRAP_VECTORS)
        handlers[vector] = h;
}

trap_handler_t trap_get_handler(int vector)
{
    return vector >= 0 && vector < TRAP_VECTORS ? handlers[vector] : NULL;
}

void trap_decode_pf(uint64_t err, char *buf, size_t size)
{
    ksnprintf(buf, size, "%s %s %s%s%s%s",
              err & 1 ? "protection-violation" : "not-present",
              err & 2 ? "write" : "read",
              err & 4 ? "user" : "supervisor",
              err & 8 ? " reserved-bit" : "",
              err & 16 ? " instruction-fetch" : "",
              err & 32 ? " protection-key" : "");
}

void trap_dump(const struct trap_frame *f)
{
    printk("\n*** %s (vector %llu) error=0x%llx\n", trap_name(f->vector),
           (unsigned long long)f->vector, (unsigned long long)f->error);
    if (f->vector == 14) {
        char why[96];
        trap_decode_pf(f->error, why, sizeof(why));
        printk("    page fault at 0x%016llx: %s\n", (unsigned long long)read_cr2(), why);
    }
    uint64_t off;
    const char *sym = ksym_lookup(f->rip, &off);
    printk("RIP=%016llx <%s+0x%llx> CS=%llx RFLAGS=%016llx\n", (unsigned long long)f->rip,
           sym ? sym : "?", (unsigned long long)(sym ? off : 0), (unsigned long long)f->cs,
           (unsigned long long)f->rflags);
    printk("RSP=%016llx SS=%llx\n", (unsigned long long)f->rsp, (unsigned long long)f->ss);
    printk("RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", (unsigned long long)f->rax,
           (unsigned long long)f->rbx, (unsigned long long)f->rcx, (unsigned long long)f->rdx);
    printk("RSI=%016llx RDI=%016llx RBP=%016llx R8 =%016llx\n", (unsigned long long)f->rsi,
           (unsigned long long)f->rdi, (unsigned long long)f->rbp, (unsigned long long)f->r8);
    printk("R9 =%016llx R10=%016llx R11=%016llx R12=%016llx\n", (unsigned long long)f->r9,
           (unsigned long long)f->r10, (unsigned long long)f->r11, (unsigned long long)f->r12);
    printk("R13=%016llx R14=%016llx R15=%016llx\n", (unsigned long long)f->r13,
           (unsigned long long)f->r14, (unsigned long long)f->r15);
    printk("CR2=%016llx CR3=%016llx\n", (unsigned long long)read_cr2(),
           (unsigned long long)read_cr3());
    if (sym)
        printk("  at %s+0x%llx\n", sym, (unsigned long long)off);
    arch_backtrace(f->rbp);
}

static uint64_t nmis;

uint64_t trap_nmi_count(void)
{
    return nmis;
}

/* An NMI is news, not a crash: a watchdog, a front-panel button, a memory
 * or bus error the chipset reports through system control port B (bit 7
 * SERR#, bit 6 IOCHK#). Log it and go on, as Linux does for unknown NMIs;
 * only a kernel already dying stays stopped. */
static void nmi(void)
{
    if (kernel_panicking() || fatal_in_progress)
        arch_halt(); /* the report is on its way or done: stay stopped */
    uint8_t portb = inb(0x61);
    nmis++;
    printk("\n*** NMI #%llu received: logged, continuing (port 0x61 = 0x%02x%s%s)\n",
           (unsigned long long)nmis, portb, portb & 0x80 ? ", memory parity/SERR#" : "",
           portb & 0x40 ? ", I/O channel check" : "");
}

/* A stop NMI: another CPU's fatal path halts this one. Say where it was
 * first, for the report: a hang is told by what every CPU was doing, not
 * only the one that noticed. The reporter waits for our CPU_STOPPED, so
 * these lines come whole, before its own. */
static void stop_here(const struct trap_frame *f)
{
    struct cpu *c = this_cpu();
    uint64_t off = 0;
    const char *sym = (f->cs & 3) ? NULL : ksym_lookup(f->rip, &off);
    printk("\n*** CPU %u (APIC id %u) stopped at %016llx <%s+0x%llx>%s\n", c->index, c->apic_id,
           (unsigned long long)f->rip, sym ? sym : "?", (unsigned long long)(sym ? off : 0),
           (f->cs & 3) ? " in user mode" : "");
    if (!(f->cs & 3))
        arch_backtrace(f->rbp);
    smp_stop_this_cpu();
}

void trap_dispatch(struct trap_frame *f)
{
    if (f->vector == 2 && smp_nmi_is_stop()) /* another CPU's fatal path: halt here */
        stop_here(f);
    if (f->vector == 2) {
        nmi();
        return;
    }
    if (trap_recover_safe(f)) /* a fault in a safe access (peek, poke, backtrace) */
        return;
    if (f->vector < TRAP_VECTORS && handlers[f->vector] && handlers[f->vector](f))
        return;
    /* The monitor's recovery points belong to the boot CPU, which runs it. */
    if (smp_this_is_boot_cpu() && trap_recover(f)) /* a fault in a monitor command */
        return;

    /* A fault in a guard page is a kernel stack overflow. It shows up as a
     * #DF (the #PF could not be pushed on the dead stack) or as a #PF. */
    const char *stack = kstack_overflow(f->vector, f->rsp, read_cr2());

    cli();
    fatal_in_progress = true;
    smp_stop_others(); /* and name this CPU in the report */
    if (f->vector == 18)
        mce_report();
    if (stack)
        printk("\n*** kernel stack overflow: %s hit its guard page at 0x%016llx\n", stack,
               (unsigned long long)read_cr2());
    trap_dump(f);
    printk("*** fatal: %s%s\n", stack ? "kernel stack overflow" : trap_name(f->vector),
           kernel_exit_on_panic ? ", leaving the emulator" : ", halted");
    if (kernel_exit_on_panic)
        arch_emulator_exit(false);
    arch_halt();
}
