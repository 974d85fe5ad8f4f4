/*
 * The two 8259 PICs and the PIT.
 *
 * The BIOS leaves the PICs on vectors 8..15 and 0x70..0x77, where IRQ 0..7
 * would look like CPU exceptions; we move them to IRQ_BASE (32) and up and
 * mask every line until a driver asks for it. EOI goes to the master, and to
 * the slave too for lines 8..15.
 *
 * Spurious interrupts: when a line drops before the CPU acknowledges it, the
 * PIC reports its lowest-priority line (IRQ 7, or 15 on the slave) with the
 * in-service bit clear. Such an interrupt gets no EOI from its own PIC (the
 * slave's spurious 15 still needs the master's EOI for the cascade line).
 */
#include <pagoda/tlb.h>

#include "cpu.h"
#include "irq.h"
#include "x86.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC_EOI 0x20
#define PIC_READ_ISR 0x0B

#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIT_HZ 1193182u

static uint16_t mask = 0xFFFF; /* bit n set: line n masked */
static bool initialised;
static uint64_t spurious_count;

static void write_mask(void)
{
    outb(PIC1_DATA, (uint8_t)mask);
    outb(PIC2_DATA, (uint8_t)(mask >> 8));
}

static uint16_t read_isr(void)
{
    outb(PIC1_CMD, PIC_READ_ISR);
    outb(PIC2_CMD, PIC_READ_ISR);
    return (uint16_t)(inb(PIC1_CMD) | (inb(PIC2_CMD) << 8));
}

uint16_t pic_in_service(void)
{
    return read_isr();
}

void pic_eoi_in_service(void)
{
    if (!initialised)
        return;
    uint16_t isr = read_isr();
    /* A non-specific EOI ends the highest-priority line in service: one per
     * line set. The master's cascade bit (2) is set for any slave line. */
    for (unsigned i = 8; i < 16; i++)
        if (isr & (1u << i))
            outb(PIC2_CMD, PIC_EOI);
    for (unsigned i = 0; i < 8; i++)
        if (isr & (1u << i))
            outb(PIC1_CMD, PIC_EOI);
}

static bool spurious7(struct trap_frame *f)
{
    if (read_isr() & (1u << 7))
        return false; /* a real IRQ 7, but nobody handles it */
    spurious_count++;
    return true;
}

static bool spurious15(struct trap_frame *f)
{
    if (read_isr() & (1u << 15))
        return false;
    spurious_count++;
    outb(PIC1_CMD, PIC_EOI); /* the master did see the cascade line */
    return true;
}

void pic_init(void)
{
    if (initialised)
        return;
    initialised = true;
    /* ICW1: init, ICW4 follows. ICW2: vector base. ICW3: cascade on IRQ 2.
     * ICW4: 8086 mode. */
    outb(PIC1_CMD, 0x11);
    io_wait();
    outb(PIC2_CMD, 0x11);
    io_wait();
    outb(PIC1_DATA, IRQ_BASE);
    io_wait();
    outb(PIC2_DATA, IRQ_BASE + 8);
    io_wait();
    outb(PIC1_DATA, 0x04);
    io_wait();
    outb(PIC2_DATA, 0x02);
    io_wait();
    outb(PIC1_DATA, 0x01);
    io_wait();
    outb(PIC2_DATA, 0x01);
    io_wait();
    mask = 0xFFFF & ~(1u << 2); /* everything masked but the cascade */
    write_mask();
    trap_set_handler(IRQ_BASE + 7, spurious7);
    trap_set_handler(IRQ_BASE + 15, spurious15);
}

void pic_unmask(unsigned irq)
{
    mask &= (uint16_t) ~(1u << irq);
    write_mask();
}

void pic_mask(unsigned irq)
{
    mask |= (uint16_t)(1u << irq);
    write_mask();
}

void pic_eoi(unsigned irq)
{
    if (irq >= 8)
        outb(PIC2_CMD, PIC_EOI);
    outb(PIC1_CMD, PIC_EOI);
}

void pit_init(unsigned hz)
{
    uint32_t div = PIT_HZ / hz;
    if (div == 0 || div > 0xFFFF)
        div = 0xFFFF;
    outb(PIT_CMD, 0x36); /* channel 0, lobyte/hibyte, mode 3 (square wave) */
    outb(PIT_CH0, (uint8_t)div);
    outb(PIT_CH0, (uint8_t)(div >> 8));
}

/* PIT channel 2 as a one-shot delay, polled through port 0x61 (bit 0 gates
 * the channel, bit 1 would drive the speaker, bit 5 reads its output).
 * Channel 0, the monitor's tick, is left alone. */
void pit_delay_us(uint64_t us)
{
    while (us) {
        uint64_t part = MIN(us, 50000ULL); /* 16-bit count: at most 54.9 ms */
        uint32_t count = (uint32_t)(part * PIT_HZ / 1000000);
        if (count < 2)
            count = 2;
        outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
        outb(PIT_CMD, 0xB0); /* channel 2, lobyte/hibyte, mode 0 */
        outb(0x42, (uint8_t)count);
        outb(0x42, (uint8_t)(count >> 8));
        /* Mode 0: the output is low from the count's load until zero. A
         * bound keeps a machine without channel 2 from hanging here. */
        for (uint64_t spins = 0; !(inb(0x61) & 0x20) && spins < 100000000ULL; spins++) {
            tlb_poll(); /* a CPU waiting here, interrupts off, still answers shootdowns */
            cpu_relax();
        }
        us -= part;
    }
}
