/*
 * The local APIC.
 *
 * xAPIC mode reaches the registers through the 4 KiB page the MADT names
 * (0xFEE00000 by default), mapped uncached (PCD) and no-execute in a kernel
 * range. x2APIC mode, used when CPUID.1:ECX bit 21 says so, reaches the
 * same registers as MSRs 0x800 + offset/16, takes 32-bit APIC ids and sends
 * an IPI with one 64-bit ICR write instead of two. Every CPU runs in the
 * boot CPU's mode.
 *
 * The timer divides the bus clock by 16 and runs periodic at LAPIC_HZ on
 * LAPIC_TIMER_VEC. It is calibrated once, on the boot CPU: a one-shot count
 * from 0xFFFFFFFF across a 10 ms PIT channel-2 delay; the APs share the bus
 * clock and reuse the figure. Each tick counts in this_cpu()->ticks.
 */
#include <pagoda/errno.h>
#include <pagoda/percpu.h>
#include <pagoda/printk.h>
#include <pagoda/vmm.h>
#include <pagoda/watchdog.h>

#include "cpu.h"
#include "irq.h"
#include "lapic.h"
#include "x86.h"

#define MSR_APIC_BASE  0x1B
#define APIC_BASE_EN   (1ULL << 11)
#define APIC_BASE_X2   (1ULL << 10)

#define R_ID      0x020
#define R_EOI     0x0B0
#define R_SVR     0x0F0
#define R_ESR     0x280
#define R_ICR_LO  0x300
#define R_ICR_HI  0x310
#define R_LVT_TMR 0x320
#define R_LVT_ERR 0x370
#define R_TMR_INIT 0x380
#define R_TMR_CUR 0x390
#define R_TMR_DIV 0x3E0

#define ICR_INIT      0x00000500u
#define ICR_STARTUP   0x00000600u
#define ICR_NMI       0x00000400u
#define ICR_LEVEL_ASSERT 0x00004000u
#define ICR_PENDING   0x00001000u
#define LVT_MASKED    0x00010000u
#define LVT_PERIODIC  0x00020000u

static volatile uint32_t *mmio;
static bool x2;
static uint32_t timer_count;

static uint32_t rd(uint32_t reg)
{
    if (x2)
        return (uint32_t)rdmsr(0x800 + (reg >> 4));
    return mmio[reg / 4];
}

static void wr(uint32_t reg, uint32_t v)
{
    if (x2)
        wrmsr(0x800 + (reg >> 4), v);
    else
        mmio[reg / 4] = v;
}

uint32_t lapic_id(void) { return x2 ? rd(R_ID) : rd(R_ID) >> 24; }
bool lapic_x2apic(void) { return x2; }
uint32_t lapic_timer_count(void) { return timer_count; }
void lapic_eoi(void) { wr(R_EOI, 0); }

static bool timer_irq(struct trap_frame *f)
{
    this_cpu()->ticks++;
    lapic_eoi();
    watchdog_tick(); /* after the EOI: it may panic */
    return true;
}

static bool call_irq(struct trap_frame *f)
{
    this_cpu()->ipis++; /* the wake-up is the point: the idle loop runs the call */
    lapic_eoi();
    return true;
}

/* Software-enable this CPU's APIC in the chosen mode and start its timer. */
static void enable_here(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE) | APIC_BASE_EN;
    wrmsr(MSR_APIC_BASE, base); /* xAPIC first: x2APIC is entered from it */
    if (x2)
        wrmsr(MSR_APIC_BASE, base | APIC_BASE_X2);
    wr(R_SVR, 0x100 | LAPIC_SPURIOUS_VEC);
    wr(R_LVT_ERR, LVT_MASKED);
    wr(R_ESR, 0);
    wr(R_TMR_DIV, 0x3); /* divide by 16 */
    if (timer_count) {
        wr(R_LVT_TMR, LVT_PERIODIC | LAPIC_TIMER_VEC);
        wr(R_TMR_INIT, timer_count);
    }
}

int lapic_init_boot(paddr_t phys, bool use_x2apic)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(d & (1u << 9)))
        return -E_NOENT;
    x2 = use_x2apic && (c & (1u << 21));
    if (!x2) {
        void *va = vmm_alloc(PAGE_SIZE, VMM_DEMAND); /* addresses only */
        if (!va)
            return -E_NOMEM;
        int err = vmm_map((vaddr_t)va, phys, VMM_WRITE | VMM_NX | VMM_NOCACHE);
        if (err)
            return err;
        mmio = va;
    }
    trap_set_handler(LAPIC_TIMER_VEC, timer_irq);
    trap_set_handler(LAPIC_CALL_VEC, call_irq);
    idt_set_gate(LAPIC_TIMER_VEC, (uint64_t)lapic_isr_timer, 0);
    idt_set_gate(LAPIC_CALL_VEC, (uint64_t)lapic_isr_call, 0);
    idt_set_gate(LAPIC_SPURIOUS_VEC, (uint64_t)lapic_isr_spurious, 0);
    enable_here();

    /* Calibrate: a masked one-shot count across 10 ms of PIT time. */
    wr(R_LVT_TMR, LVT_MASKED | LAPIC_TIMER_VEC);
    wr(R_TMR_INIT, 0xFFFFFFFFu);
    pit_delay_us(10000);
    uint32_t left = rd(R_TMR_CUR);
    wr(R_TMR_INIT, 0);
    uint64_t per10ms = 0xFFFFFFFFu - left;
    timer_count = (uint32_t)MAX(per10ms * 100 / LAPIC_HZ, 1000ULL);
    wr(R_LVT_TMR, LVT_PERIODIC | LAPIC_TIMER_VEC);
    wr(R_TMR_INIT, timer_count);
    return 0;
}

void lapic_init_ap(void)
{
    enable_here();
}

/* Wait until the APIC has accepted the last ICR write (xAPIC only: x2APIC
 * has no delivery-status bit to wait on). */
static bool icr_idle(void)
{
    if (x2)
        return true;
    for (uint64_t i = 0; i < 10000000ULL; i++) {
        if (!(rd(R_ICR_LO) & ICR_PENDING))
            return true;
        cpu_relax();
    }
    return false;
}

static bool send(uint32_t apic_id, uint32_t lo)
{
    bool irq = read_rflags() & RFLAGS_IF;
    cli(); /* an interrupt handler's IPI between our two writes would mix them */
    bool ok = icr_idle();
    if (ok) {
        if (x2) {
            wrmsr(0x830, ((uint64_t)apic_id << 32) | lo);
        } else {
            wr(R_ICR_HI, apic_id << 24);
            wr(R_ICR_LO, lo);
        }
        ok = icr_idle();
    }
    if (irq)
        sti();
    return ok;
}

bool lapic_send_init(uint32_t apic_id) { return send(apic_id, ICR_INIT | ICR_LEVEL_ASSERT); }
bool lapic_send_sipi(uint32_t apic_id, uint8_t page) { return send(apic_id, ICR_STARTUP | page); }
bool lapic_send_ipi(uint32_t apic_id, uint8_t vector) { return send(apic_id, ICR_LEVEL_ASSERT | vector); }
bool lapic_send_nmi(uint32_t apic_id) { return send(apic_id, ICR_NMI | ICR_LEVEL_ASSERT); }
