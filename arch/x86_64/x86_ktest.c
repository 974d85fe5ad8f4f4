/* In-kernel tests of the x86 foundation: descriptor tables and traps. */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "cpu.h"
#include "x86.h"

static volatile int breakpoints;
static volatile uint64_t bp_rip;

static bool count_breakpoint(struct trap_frame *f)
{
    breakpoints++;
    bp_rip = f->rip;
    return true; /* int3 is a trap: RIP already points past it */
}

KTEST(x86_breakpoint_trap_returns)
{
    trap_set_handler(3, count_breakpoint);
    breakpoints = 0;
    __asm__ volatile("int3");
    __asm__ volatile("int3");
    trap_set_handler(3, NULL);
    KT_ASSERT_EQ(breakpoints, 2);
    KT_ASSERT(bp_rip >= 0xffffffff80000000ULL);
}

static bool skip_ud2(struct trap_frame *f)
{
    breakpoints++;
    f->rip += 2; /* ud2 is two bytes: resume after it */
    return true;
}

KTEST(x86_invalid_opcode_fault_can_resume)
{
    trap_set_handler(6, skip_ud2);
    breakpoints = 0;
    __asm__ volatile("ud2");
    trap_set_handler(6, NULL);
    KT_ASSERT_EQ(breakpoints, 1);
}

KTEST(x86_tss_loaded_with_ist_stacks)
{
    uint16_t tr;
    __asm__ volatile("str %0" : "=r"(tr));
    KT_ASSERT_EQ(tr, GDT_TSS);

    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idtr;
    __asm__ volatile("sidt %0" : "=m"(idtr));
    KT_ASSERT_EQ(idtr.limit, 256 * 16 - 1);
    /* #DF, NMI and #MC gates name their IST slots (byte 4 of the gate). */
    const uint8_t *idt = (const uint8_t *)idtr.base;
    KT_ASSERT_EQ(idt[8 * 16 + 4] & 7, IST_DF);
    KT_ASSERT_EQ(idt[2 * 16 + 4] & 7, IST_NMI);
    KT_ASSERT_EQ(idt[18 * 16 + 4] & 7, IST_MC);
    KT_ASSERT_EQ(idt[14 * 16 + 4] & 7, 0);
}

KTEST(x86_stack_guards_recorded)
{
    int n = 0;
    for (const struct kstack_guard *g = __kstack_guards_start; g < __kstack_guards_end; g++) {
        KT_ASSERT((g->guard & PAGE_MASK) == 0);
        KT_ASSERT(kstack_guard_hit(g->guard + 100) == g->name);
        n++;
    }
    KT_ASSERT(n >= 4); /* boot stack and three IST stacks */
    /* The stack we run on has its guard right below it. */
    uint64_t rsp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
    KT_ASSERT(kstack_guard_hit(rsp) == NULL);
}

KTEST(x86_printk_formats_into_buffer)
{
    char buf[64];
    ksnprintf(buf, sizeof(buf), "%s=%016llx %zu", "cr3", 0x1000ULL, (size_t)7);
    KT_ASSERT(strcmp(buf, "cr3=0000000000001000 7") == 0);
}

/* A backtrace from a bad frame pointer (a crashed context's rbp can be
 * anything) reports what it can and returns: it must not fault inside the
 * fault report. */
KTEST(x86_backtrace_survives_a_bad_frame_pointer)
{
    uint64_t fake[2] = {0xfffffffffffff000ULL, (uint64_t)&arch_backtrace + 1};
    struct arch_recover r;
    volatile int how = arch_recover_arm(&r);
    if (how == 0) {
        arch_backtrace(0xffff900000000000ULL); /* canonical, unmapped */
        arch_backtrace((uint64_t)fake);        /* one frame, then an unmapped one */
    }
    arch_recover_disarm(&r);
    KT_ASSERT_EQ(how, 0);
}

/* A #DF names a stack overflow only when RSP is at the guard page too: CR2
 * alone may be stale, left by an earlier #PF that was recovered (a monitor
 * peek of a guard page, say). */
KTEST(x86_double_fault_overflow_needs_rsp_at_the_guard)
{
    const struct kstack_guard *g = __kstack_guards_start;
    KT_ASSERT(g < __kstack_guards_end);
    uint64_t cr2 = g->guard + 0x10, far = g->guard + 3 * PAGE_SIZE;
    KT_ASSERT(kstack_overflow(14, far, cr2) == g->name); /* a #PF's CR2 is its own */
    KT_ASSERT(kstack_overflow(8, g->guard + PAGE_SIZE + 8, cr2) == g->name);
    KT_ASSERT(kstack_overflow(8, g->guard + 0x800, cr2) == g->name);
    KT_ASSERT(kstack_overflow(8, far, cr2) == NULL); /* stale CR2 */
    KT_ASSERT(kstack_overflow(8, g->guard + 2 * PAGE_SIZE, cr2) == NULL);
    KT_ASSERT(kstack_overflow(8, g->guard + PAGE_SIZE, far) == NULL);
    KT_ASSERT(kstack_overflow(13, g->guard + PAGE_SIZE, cr2) == NULL);
}

/* Machine checks are enabled where the CPU has them: otherwise a #MC is a
 * shutdown and its IST stack dead code. */
KTEST(x86_machine_check_enabled)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    KT_ASSERT_EQ(!!(read_cr4() & (1ULL << 6)), !!(d & (1u << 7)));
    KT_ASSERT_EQ(mce_enabled(), !!(d & (1u << 7)));
    char buf[160];
    mce_decode_status(0xb200000000000000ULL, buf, sizeof(buf));
    KT_ASSERT(strcmp(buf, "valid uncorrected enabled processor-context-corrupt, "
                          "error code 0x0000") == 0);
    mce_decode_status(0x0000000000000000ULL, buf, sizeof(buf));
    KT_ASSERT(strcmp(buf, "not valid") == 0);
    mce_decode_status(0x8c00000000000136ULL, buf, sizeof(buf));
    KT_ASSERT(strcmp(buf, "valid corrected misc-valid addr-valid, error code 0x0136") == 0);
}

/* An NMI is logged and survived (through the real gate: int $2 runs the
 * NMI handler on its IST stack). */
KTEST(x86_nmi_is_logged_and_survived)
{
    uint64_t n = trap_nmi_count();
    __asm__ volatile("int $2");
    __asm__ volatile("int $2");
    KT_ASSERT_EQ(trap_nmi_count(), n + 2);
}

/* A safe rdmsr reads what rdmsr reads. (An MSR that does not exist is a
 * #GP on hardware and in Bochs, but QEMU's TCG reads it as 0.) */
KTEST(x86_safe_msr_reads)
{
    uint64_t v = 0;
    KT_ASSERT_EQ(arch_safe_rdmsr(MSR_EFER, &v), 0);
    KT_ASSERT_EQ(v, rdmsr(MSR_EFER));
}
