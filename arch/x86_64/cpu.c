/*
 * The GDT and TSS, and CPU feature queries.
 *
 * The TSS exists for its IST stacks: #DF, NMI and #MC each switch to a stack
 * of their own, so that a kernel stack overflow (which faults again while the
 * CPU pushes the #PF frame on the dead stack) lands in a working #DF handler
 * instead of a triple fault.
 */
#include <pagoda/string.h>

#include "cpu.h"
#include "smp.h"
#include "x86.h"

#define IST_STACK_SIZE 8192
KSTACK_DEFINE(ist_df_stack, IST_STACK_SIZE);
KSTACK_DEFINE(ist_nmi_stack, IST_STACK_SIZE);
KSTACK_DEFINE(ist_mc_stack, IST_STACK_SIZE);
/* The boot stack; boot/entry.asm switches to boot_stack_top. */
#define BOOT_STACK_SIZE 32768
KSTACK_DEFINE(boot_stack, BOOT_STACK_SIZE);
__asm__(".globl boot_stack_top\n.set boot_stack_top, boot_stack_area + 4096 + 32768");

/* The boot CPU's; each AP has its own (struct cpu_tables, smp.c). */
static struct tss tss;
static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));

void gdt_init(void)
{
    const vaddr_t ist[3] = {
        (vaddr_t)(ist_df_stack_area + 4096 + IST_STACK_SIZE),
        (vaddr_t)(ist_nmi_stack_area + 4096 + IST_STACK_SIZE),
        (vaddr_t)(ist_mc_stack_area + 4096 + IST_STACK_SIZE),
    };
    gdt_setup(gdt, &tss, ist);
}

/* Every CPU's GDT comes from here, so all of them have the same layout. */
/* Each CPU's TSS, by CPU index, for its RSP0 (set by gdt_setup on that CPU,
 * which already has its struct cpu on GS). */
static struct tss *tss_of[SMP_MAX_CPUS];

void gdt_setup(uint64_t *gdt, struct tss *tss, const vaddr_t ist_top[3])
{
    uint64_t gs_base = rdmsr(MSR_GS_BASE);
    unsigned me = this_cpu()->index;
    if (me < SMP_MAX_CPUS)
        tss_of[me] = tss;
    gdt[0] = 0;
    gdt[1] = 0x00AF9A000000FFFFULL; /* kernel code, 64-bit */
    gdt[2] = 0x00CF92000000FFFFULL; /* kernel data */
    gdt[3] = 0x00AFFA000000FFFFULL; /* user code, 64-bit, DPL 3 */
    gdt[4] = 0x00CFF2000000FFFFULL; /* user data, DPL 3 */

    tss->ist[IST_DF - 1] = ist_top[0];
    tss->ist[IST_NMI - 1] = ist_top[1];
    tss->ist[IST_MC - 1] = ist_top[2];
    tss->iomap_base = sizeof(*tss);

    /* A 64-bit TSS descriptor takes two GDT slots. */
    uint64_t base = (uint64_t)tss, limit = sizeof(*tss) - 1;
    gdt[5] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ULL << 40) |
             (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    gdt[6] = base >> 32;

    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) ptr = {GDT_ENTRIES * 8 - 1, (uint64_t)gdt};

    /* Reload CS with a far return, then the data segments and the TSS. */
    __asm__ volatile("lgdt %0\n"
                     "pushq %1\n"
                     "leaq 1f(%%rip), %%rax\n"
                     "pushq %%rax\n"
                     "lretq\n"
                     "1:\n"
                     "movw %w2, %%ax\n"
                     "movw %%ax, %%ds\n"
                     "movw %%ax, %%es\n"
                     "movw %%ax, %%ss\n"
                     "xorl %%eax, %%eax\n"
                     "movw %%ax, %%fs\n"
                     "movw %%ax, %%gs\n"
                     "ltr %w3\n"
                     :
                     : "m"(ptr), "i"(GDT_KCODE), "i"(GDT_KDATA), "r"((uint16_t)GDT_TSS)
                     : "rax", "memory");
    /* Loading a null GS may clear its base (it does on AMD and QEMU): put
     * back the per-CPU pointer (<arch/percpu.h>) it held. */
    wrmsr(MSR_GS_BASE, gs_base);
}

/* The stack this CPU loads on a trap from user mode (its TSS.RSP0). */
void cpu_set_rsp0(uint64_t rsp)
{
    unsigned me = this_cpu()->index;
    struct tss *t = me < SMP_MAX_CPUS && tss_of[me] ? tss_of[me] : &tss;
    t->rsp[0] = rsp;
}

const char *kstack_guard_hit(vaddr_t va)
{
    for (const struct kstack_guard *g = __kstack_guards_start; g < __kstack_guards_end; g++)
        if (va >= g->guard && va < g->guard + PAGE_SIZE)
            return g->name;
    return smp_stack_guard_hit(va); /* the APs' stacks */
}

/* How far above its guard page RSP may be when a push of an exception
 * frame (at most 6 words after aligning RSP to 16) still reaches the guard:
 * with a margin, 128 bytes. */
#define KSTACK_OVERFLOW_SLACK 128

const char *kstack_overflow(uint64_t vector, uint64_t rsp, uint64_t cr2)
{
    if (vector != 8 && vector != 14)
        return NULL;
    const char *name = kstack_guard_hit(cr2);
    if (!name || vector == 14)
        return name;
    for (const struct kstack_guard *g = __kstack_guards_start; g < __kstack_guards_end; g++)
        if (g->name == name)
            return rsp >= g->guard && rsp - g->guard < PAGE_SIZE + KSTACK_OVERFLOW_SLACK ? name
                                                                                          : NULL;
    /* An AP's stack (smp_stack_guard_hit): the same test on cr2's page. */
    vaddr_t guard = ALIGN_DOWN(cr2, PAGE_SIZE);
    return rsp >= guard && rsp - guard < PAGE_SIZE + KSTACK_OVERFLOW_SLACK ? name : NULL;
}

static uint32_t ext_edx(void)
{
    uint32_t a, b, c, d;
    cpuid(0x80000000, 0, &a, &b, &c, &d);
    if (a < 0x80000001)
        return 0;
    cpuid(0x80000001, 0, &a, &b, &c, &d);
    return d;
}

bool cpu_has_nx(void) { return ext_edx() & (1u << 20); }
bool cpu_has_1g_pages(void) { return ext_edx() & (1u << 26); }

bool cpu_has_pge(void)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    return d & (1u << 13);
}

const char *cpu_emulator_name(void)
{
    static char vendor[13];
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if (c & (1u << 31)) {
        uint32_t v[3];
        cpuid(0x40000000, 0, &a, &v[0], &v[1], &v[2]);
        memcpy(vendor, v, 12);
        vendor[12] = 0;
        if (vendor[0] == 0 || memcmp(vendor, "TCGTCGTCGTCG", 12) == 0)
            return "QEMU TCG";
        return vendor;
    }
    /* Bochs sets no hypervisor bit, but its port 0xE9 hack (enabled in
     * tests/tools/bochsrc) reads back 0xE9 where real hardware floats. */
    if (inb(0xE9) == 0xE9)
        return "Bochs";
    uint32_t brand[12];
    cpuid(0x80000000, 0, &a, &b, &c, &d);
    if (a >= 0x80000004) {
        for (uint32_t i = 0; i < 3; i++)
            cpuid(0x80000002 + i, 0, &brand[i * 4], &brand[i * 4 + 1], &brand[i * 4 + 2],
                  &brand[i * 4 + 3]);
        const char *s = (const char *)brand;
        for (int i = 0; i + 5 <= 48; i++)
            if (memcmp(s + i, "Bochs", 5) == 0 || memcmp(s + i, "QEMU", 4) == 0)
                return s[i] == 'B' ? "Bochs" : "QEMU";
    }
    return NULL;
}

bool cpu_is_emulated(void) { return cpu_emulator_name() != NULL; }
