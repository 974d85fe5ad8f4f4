/*
 * SMP bring-up: from the MADT to every CPU in its idle loop.
 *
 * Theory of operation
 * -------------------
 * 1. The MADT is found through the boot-info RSDP copy (src/acpi/madt.c).
 *    Firmware's physical addresses are read through the VMM's temp window,
 *    and only where the memory map describes memory (any type), so a wild
 *    pointer cannot make us read device registers. No usable MADT: one log
 *    line, one CPU.
 * 2. The boot CPU's LAPIC is mapped and started (lapic.c), and its timer
 *    calibrated against the PIT.
 * 3. Everything an AP needs is made by the boot CPU first, because the
 *    allocators are not SMP-safe yet: a struct cpu (index in MADT order),
 *    a GDT/TSS from gdt_setup (the boot CPU's layout), a 16 KiB kernel stack
 *    and three 8 KiB IST stacks, each a vmm_alloc range with a guard page on
 *    both sides. An AP never allocates.
 * 4. The trampoline (smp_entry.asm) goes into a page below 1 MiB that the
 *    PMM reserves for it (pmm_reserve_low). A bring-up address space maps
 *    that page at its own physical address, read + execute, beside the shared
 *    kernel half; its PML4 must be below 4 GiB, since CR3 is loaded in 32-bit
 *    mode. The kernel's own space never gets an identity mapping.
 * 5. APs start one at a time: INIT, 10 ms, STARTUP, 200 us, a second STARTUP
 *    only if the AP has not yet said it is alive, then up to 500 ms for it to
 *    reach CPU_ONLINE. The parameter block is rewritten only once the
 *    previous AP has left it. An AP that never comes gets INIT again (so it
 *    cannot wake later on another AP's parameters) and stays CPU_FAILED.
 * 6. An AP, in ap_main: its GDT/TSS, GS (struct cpu), the shared IDT, its
 *    LAPIC in the boot CPU's mode with the timer running, then CPU_ONLINE
 *    and the idle loop (smp_call.c).
 *
 * Weaknesses: the I/O APIC is not used (device interrupts stay on the 8259
 * and the boot CPU); CPUs are not taken offline; at most SMP_MAX_CPUS.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/acpi.h>
#include <pagoda/bootinfo.h>
#include <pagoda/errno.h>
#include <pagoda/kernel.h>
#include <pagoda/kmalloc.h>
#include <pagoda/mb2.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/string.h>
#include <pagoda/tlb.h>
#include <pagoda/vmm.h>

#include "irq.h"
#include "lapic.h"
#include "smp.h"
#include "vmm_internal.h"
#include "x86.h"

#define AP_STACK_SIZE  (16 * 1024)
#define AP_IST_SIZE    (8 * 1024)

/* The trampoline's parameter block (smp_entry.asm's AP_* offsets). */
struct ap_params {
    uint16_t gdtr_limit;
    uint32_t gdtr_base;
    uint16_t pad0;
    uint32_t pm_off;
    uint16_t pm_sel, pad1;
    uint32_t lm_off;
    uint16_t lm_sel, pad2;
    uint64_t cr3_boot, cr4, efer, cr0, cr3, stack, entry, cpu;
} __attribute__((packed));
_Static_assert(sizeof(struct ap_params) == 88, "smp_entry.asm: AP_GDT is 88");
_Static_assert(__builtin_offsetof(struct ap_params, pm_off) == 8, "AP_PM_PTR");
_Static_assert(__builtin_offsetof(struct ap_params, lm_off) == 16, "AP_LM_PTR");
_Static_assert(__builtin_offsetof(struct ap_params, cr3_boot) == 24, "AP_CR3_BOOT");
_Static_assert(__builtin_offsetof(struct ap_params, cpu) == 80, "AP_CPU");

extern const uint8_t ap_tramp_start[], ap_tramp_end[], ap_tramp_params[];
extern const uint8_t ap_pm32[], ap_lm64[];

static struct cpu cpus[SMP_MAX_CPUS];
static struct x86_cpu xcpus[SMP_MAX_CPUS];
static unsigned ncpus = 1;

/* ---- per-CPU access ------------------------------------------------------ */

void arch_set_this_cpu(struct cpu *c)
{
    wrmsr(MSR_GS_BASE, (uint64_t)c);
}

void smp_early_init(void)
{
    struct cpu *c = &cpus[0];
    c->self = c;
    c->index = 0;
    c->state = CPU_ONLINE;
    arch_set_this_cpu(c);
}

unsigned cpu_count(void) { return ncpus; }
struct cpu *cpu_get(unsigned index) { return index < ncpus ? &cpus[index] : NULL; }

unsigned smp_online(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < ncpus; i++)
        n += cpus[i].state == CPU_ONLINE;
    return n;
}

const char *cpu_state_name(int state)
{
    static const char *const names[] = {"absent", "starting", "online", "failed", "stopped"};
    return state >= 0 && state < (int)ARRAY_SIZE(names) ? names[state] : "?";
}

/* ---- reading ACPI tables ------------------------------------------------- */

/* Is [pa, pa+len) inside the memory map? Firmware tables live in RAM the
 * map calls ACPI or reserved; anything outside it may be a device. */
static bool in_memmap(paddr_t pa, size_t len)
{
    struct stivale2_struct_tag_memmap *m =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_MEMMAP_ID);
    if (!m || pa + len < pa)
        return false;
    for (uint64_t i = 0; i < m->entries; i++) {
        uint64_t b = m->memmap[i].base, e = b + m->memmap[i].length;
        if (pa >= b && pa + len <= e && e > b)
            return true;
    }
    return false;
}

static int phys_read(void *ctx, paddr_t pa, void *buf, size_t len)
{
    if (!in_memmap(pa, len))
        return -E_RANGE;
    uint8_t *out = buf;
    while (len) {
        size_t off = pa & PAGE_MASK, n = MIN(len, PAGE_SIZE - off);
        uint8_t *p = vmm_map_temp(pa - off);
        memcpy(out, p + off, n);
        vmm_unmap_temp(p);
        out += n;
        pa += n;
        len -= n;
    }
    return 0;
}

/* ---- bringing up one AP -------------------------------------------------- */

static bool wait_state(struct cpu *c, int state, unsigned ms)
{
    for (unsigned i = 0; i < ms * 10; i++) {
        if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == state)
            return true;
        pit_delay_us(100);
    }
    return __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == state;
}

/* ap_main's first store: the AP has left the parameter block. */
static volatile int ap_alive;
/* The boot CPU's page attribute table (0: no PAT), which every CPU must
 * share: VMM_WC mappings name its write-combining entry. */
static uint64_t boot_pat;

__attribute__((noreturn)) void ap_main(struct cpu *c);
void ap_main(struct cpu *c)
{
    __atomic_store_n(&ap_alive, 1, __ATOMIC_RELEASE);
    if (boot_pat)
        wrmsr(0x277, boot_pat); /* MSR_PAT, before any access to WC memory */
    struct x86_cpu *x = c->arch;
    arch_set_this_cpu(c);
    gdt_setup(x->tables.gdt, &x->tables.tss, x->ist_top);
    idt_load();
    mce_init(); /* this CPU's machine-check banks (CR4.MCE came with CR4) */
    lapic_init_ap();
    vmm_cpu_init(); /* its CR3 is the kernel space's, for the shootdowns */
    c->apic_id = lapic_id();
    __atomic_store_n(&c->state, CPU_ONLINE, __ATOMIC_RELEASE);
    smp_idle();
}

/* The boot CPU's share of an AP: its stacks, with guard pages. */
static int prepare(struct cpu *c, struct x86_cpu *x)
{
    void *stack = vmm_alloc(AP_STACK_SIZE, VMM_WRITE | VMM_NX);
    if (!stack)
        return -E_NOMEM;
    x->stack_base = (vaddr_t)stack;
    c->kstack_top = (vaddr_t)stack + AP_STACK_SIZE;
    for (int i = 0; i < 3; i++) {
        void *ist = vmm_alloc(AP_IST_SIZE, VMM_WRITE | VMM_NX);
        if (!ist)
            return -E_NOMEM; /* the stacks stay with the failed CPU */
        x->ist_top[i] = (vaddr_t)ist + AP_IST_SIZE;
    }
    c->arch = x;
    return 0;
}

static bool start_ap(struct cpu *c, paddr_t tramp, struct ap_params *p)
{
    p->stack = c->kstack_top;
    p->cpu = (uint64_t)c;
    __atomic_store_n(&ap_alive, 0, __ATOMIC_RELEASE);
    c->state = CPU_STARTING;

    uint8_t page = (uint8_t)(tramp >> PAGE_SHIFT);
    bool ok = lapic_send_init(c->apic_id);
    pit_delay_us(10000);
    ok = ok && lapic_send_sipi(c->apic_id, page);
    pit_delay_us(200);
    if (ok && !__atomic_load_n(&ap_alive, __ATOMIC_ACQUIRE)) {
        ok = lapic_send_sipi(c->apic_id, page);
        pit_delay_us(200);
    }
    if (ok && wait_state(c, CPU_ONLINE, 500))
        return true;
    lapic_send_init(c->apic_id); /* never let it wake up later */
    c->state = CPU_FAILED;
    printk("smp: CPU %u (APIC id %u) did not come online%s\n", c->index, c->apic_id,
           ok ? "" : ": its APIC did not accept the IPI");
    return false;
}

/* Copy the trampoline into its page and fill the parameters every AP
 * shares. Returns the block's address in the temp window (still mapped). */
static struct ap_params *install_trampoline(paddr_t tramp, struct vmm_space *boot_space,
                                            uint8_t **window)
{
    size_t size = (size_t)(ap_tramp_end - ap_tramp_start);
    uint8_t *w = vmm_map_temp(tramp);
    memcpy(w, ap_tramp_start, size);
    size_t poff = (size_t)(ap_tramp_params - ap_tramp_start);
    struct ap_params *p = (struct ap_params *)(w + poff);
    p->gdtr_limit = 4 * 8 - 1;
    p->gdtr_base = (uint32_t)(tramp + poff + sizeof(*p));
    p->pm_off = (uint32_t)(tramp + (size_t)(ap_pm32 - ap_tramp_start));
    p->pm_sel = 0x08;
    p->lm_off = (uint32_t)(tramp + (size_t)(ap_lm64 - ap_tramp_start));
    p->lm_sel = 0x18;
    p->cr3_boot = boot_space->pml4;
    p->cr4 = read_cr4();
    p->efer = rdmsr(MSR_EFER) & ~(1ULL << 10); /* LMA is the CPU's to set */
    p->cr0 = read_cr0();
    p->cr3 = read_cr3();
    p->entry = (uint64_t)ap_main;
    *window = w;
    return p;
}

static unsigned start_all(const struct acpi_madt *m, uint32_t bsp_id)
{
    /* Slots first, in MADT order, so indexes never depend on timing. */
    unsigned n = 1, skipped = 0;
    for (unsigned i = 0; i < m->ncpus; i++) {
        uint32_t id = m->cpu[i].apic_id;
        if (id == bsp_id)
            continue;
        if ((!lapic_x2apic() && id > 254) || n == SMP_MAX_CPUS) {
            skipped++;
            continue;
        }
        struct cpu *c = &cpus[n];
        c->self = c;
        c->index = n;
        c->apic_id = id;
        c->state = CPU_ABSENT;
        if (prepare(c, &xcpus[n]) != 0) {
            printk("smp: no memory for CPU %u's stacks: it stays off\n", n);
            break;
        }
        n++;
    }
    if (skipped)
        printk("smp: %u CPU%s left off (APIC ids above 254 without x2APIC, or more than %u)\n",
               skipped, skipped == 1 ? "" : "s", SMP_MAX_CPUS);
    if (n == 1)
        return 1;

    paddr_t tramp = pmm_reserve_low("AP trampoline");
    if (!tramp) {
        printk("smp: no free page below 1 MiB for the AP trampoline: one CPU\n");
        return 1;
    }
    struct vmm_space *bs = vmm_space_create();
    if (!bs || bs->pml4 >= 0x100000000ULL ||
        vmm_space_map(bs, tramp, tramp, 0) != 0) { /* read + execute */
        printk("smp: cannot build the AP bring-up page tables below 4 GiB: one CPU\n");
        if (bs)
            vmm_space_destroy(bs);
        return 1;
    }
    uint32_t a, b, cx, d;
    cpuid(1, 0, &a, &b, &cx, &d);
    if (d & (1u << 16))
        boot_pat = rdmsr(0x277);
    uint8_t *window;
    struct ap_params *p = install_trampoline(tramp, bs, &window);
    ncpus = n;
    for (unsigned i = 1; i < n; i++)
        start_ap(&cpus[i], tramp, p);
    vmm_unmap_temp(window);
    vmm_space_destroy(bs);
    return n;
}

const char *smp_stack_guard_hit(vaddr_t va)
{
    static const char *const what[4] = {"kernel stack", "#DF IST stack", "NMI IST stack",
                                        "#MC IST stack"};
    static char name[48];
    for (unsigned i = 1; i < ncpus; i++) {
        const struct x86_cpu *x = &xcpus[i];
        vaddr_t base[4] = {x->stack_base, x->ist_top[0] - AP_IST_SIZE,
                           x->ist_top[1] - AP_IST_SIZE, x->ist_top[2] - AP_IST_SIZE};
        for (int k = 0; k < 4; k++)
            if (x->ist_top[2] && va >= base[k] - PAGE_SIZE && va < base[k]) {
                ksnprintf(name, sizeof(name), "CPU %u's %s", i, what[k]);
                return name;
            }
    }
    return NULL;
}

static volatile int crash_depth_limit = 1 << 30;

__attribute__((noinline)) static int deep(int n)
{
    volatile char pad[256];
    pad[0] = (char)n;
    if (n >= crash_depth_limit)
        return pad[0];
    return deep(n + 1) + pad[0];
}

/* `crash=ap|ap-ud|ap-stack`: a panic, an invalid opcode or a kernel stack
 * overflow on the last AP, to watch the stop NMI, the AP's own IST stack and
 * guard page, and the report that names the CPU. `crash=ap-ud-armed`: the
 * invalid opcode while the boot CPU has a recovery point armed (as each
 * in-kernel test does), which is the boot CPU's and must stay out of the
 * AP's fault: it stays fatal. `crash=ap-deaf`: the last
 * AP stops answering (interrupts off, no polling) and the boot CPU unmaps a
 * kernel page: the shootdown's timeout must name the AP. */
static void deaf(void)
{
    for (;;)
        __asm__ volatile("cli; pause" ::: "memory");
}

static void crash_here(void *arg)
{
    if (arg == (void *)3)
        deaf();
    if (arg == (void *)2)
        deep(0);
    if (arg)
        __asm__ volatile("ud2");
    panic("crash test requested on the command line, on CPU %u", this_cpu()->index);
}

static void crash_on_ap(const char *how)
{
    kernel_exit_on_panic = true;
    unsigned last = cpu_count() - 1;
    bool armed = strcmp(how, "ap-ud-armed") == 0;
    void *kind = strcmp(how, "ap-ud") == 0 || armed ? (void *)1
                 : strcmp(how, "ap-stack") == 0   ? (void *)2
                                                  : NULL;
    static struct arch_recover point;
    if (armed && arch_recover_arm(&point)) {
        printk("crash=ap-ud-armed: CPU %u came back to the boot CPU's recovery point\n",
               this_cpu()->index);
        arch_emulator_exit(false);
    }
    if (strcmp(how, "ap-deaf") == 0) {
        if (last == 0 || cpu_get(last)->state != CPU_ONLINE)
            panic("crash=ap-deaf needs a second CPU");
        smp_call_one(last, crash_here, (void *)3, 100); /* it never finishes */
        void *p = vmm_alloc(PAGE_SIZE, VMM_WRITE | VMM_NX);
        if (p)
            vmm_free(p); /* the unmap's shootdown waits for CPU `last` */
        panic("crash=ap-deaf: the shootdown came back without CPU %u", last);
    }
    printk("crash: %s requested on the command line: CPU %u\n", how, last);
    if (last == 0 || cpu_get(last)->state != CPU_ONLINE)
        crash_here(kind); /* one CPU: on this one */
    smp_call_one(last, crash_here, kind, 10000);
    panic("crash=%s: CPU %u came back", how, last);
}

void smp_init(void)
{
    char why[ACPI_WHY_LEN], opt[8];
    static struct acpi_madt madt;
    pic_init(); /* before any sti: the 8259s off the exception vectors */

    bool x2ok = !(cmdline_get("x2apic", opt, sizeof(opt)) && strcmp(opt, "0") == 0);
    struct stivale2_struct_tag_rsdp *r =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_RSDP_ID);
    int err = -E_NOENT;
    if (!r) {
        ksnprintf(why, sizeof(why), "the boot information has no RSDP");
    } else {
        void *buf = kmalloc(ACPI_TABLE_MAX);
        if (!buf) {
            ksnprintf(why, sizeof(why), "no memory to read the MADT");
        } else {
            err = acpi_find_madt((const void *)(uintptr_t)r->rsdp, MB2_RSDP_MAX, phys_read,
                                 NULL, buf, ACPI_TABLE_MAX, &madt, why);
            kfree(buf);
        }
    }
    paddr_t lapic = err ? (rdmsr(0x1B) & ~PAGE_MASK & ((1ULL << 52) - 1)) : madt.lapic_phys;
    if (err)
        printk("smp: %s: running on one CPU\n", why);
    else
        printk("smp: MADT at 0x%llx (via %s): %u CPU%s, %u I/O APIC%s, local APIC at 0x%llx\n",
               (unsigned long long)madt.madt_phys, madt.via_xsdt ? "XSDT" : "RSDT", madt.ncpus,
               madt.ncpus == 1 ? "" : "s", madt.nioapic, madt.nioapic == 1 ? "" : "s",
               (unsigned long long)madt.lapic_phys);

    int lerr = lapic_init_boot(lapic, x2ok);
    if (lerr) {
        printk("smp: no usable local APIC (%s): one CPU, no LAPIC timer\n", err_name(lerr));
        printk("smp: 1 CPU online\n");
        return;
    }
    cpus[0].apic_id = lapic_id();
    tlb_init(); /* before any AP can cache a translation we must shoot down */
    printk("smp: %s, timer %u counts per tick at %u Hz\n",
           lapic_x2apic() ? "x2APIC" : "xAPIC", lapic_timer_count(), LAPIC_HZ);
    if (!err)
        start_all(&madt, cpus[0].apic_id);
    unsigned on = smp_online();
    printk("smp: %u CPU%s online\n", on, on == 1 ? "" : "s");
    char how[12];
    if (cmdline_get("crash", how, sizeof(how)) && strncmp(how, "ap", 2) == 0)
        crash_on_ap(how);
}
