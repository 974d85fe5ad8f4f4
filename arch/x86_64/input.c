/*
 * Console input for the monitor: the PIT tick, the keyboard and COM1's
 * receive interrupt all feed one ring buffer, and arch_input_getc sleeps
 * with hlt until a byte arrives.
 *
 * The ring is single-producer (interrupt handlers, which run with
 * interrupts off) and single-consumer (arch_input_getc, which takes bytes
 * with interrupts off), so disabling interrupts is all the locking needed.
 * A full ring drops new bytes: a human cannot type 255 characters ahead.
 *
 * The consumer also polls the UART each time it wakes (at least every tick),
 * so that input still arrives if a receive interrupt is lost (some UART
 * models raise it only on a FIFO threshold or after a timeout).
 */
#include <arch/arch.h>
#include <arch/monitor.h>

#include "console.h"
#include "cpu.h"
#include "irq.h"
#include "x86.h"

#define RING_SIZE 256 /* a power of two */

static volatile uint8_t ring[RING_SIZE];
static volatile unsigned head, tail; /* head: next write; tail: next read */
static volatile uint64_t ticks;
static bool started;

void input_push(uint8_t c)
{
    if (head - tail >= RING_SIZE)
        return;
    ring[head % RING_SIZE] = c;
    head++;
}

void input_push_str(const char *s)
{
    while (*s)
        input_push((uint8_t)*s++);
}

static bool pit_irq(struct trap_frame *f)
{
    ticks++;
    pic_eoi(IRQ_PIT);
    return true;
}

static bool com1_irq(struct trap_frame *f)
{
    int c;
    while ((c = serial_getc()) >= 0)
        input_push((uint8_t)c);
    pic_eoi(IRQ_COM1);
    return true;
}

void arch_input_start(void)
{
    if (started)
        return;
    started = true;
    pic_init();
    pit_init(ARCH_TICK_HZ);
    trap_set_handler(IRQ_BASE + IRQ_PIT, pit_irq);
    pic_unmask(IRQ_PIT);
    kbd_init();
    if (serial_present()) {
        trap_set_handler(IRQ_BASE + IRQ_COM1, com1_irq);
        serial_enable_rx_irq();
        pic_unmask(IRQ_COM1);
    }
    sti();
}

int input_trypop(void)
{
    bool on = arch_irq_save();
    int c = -1;
    if (head != tail) {
        c = ring[tail % RING_SIZE];
        tail++;
    }
    arch_irq_restore(on);
    return c;
}

int arch_input_getc(void)
{
    arch_input_start(); /* never sti with the PICs still on the BIOS vectors */
    for (;;) {
        cli();
        if (head != tail) {
            uint8_t c = ring[tail % RING_SIZE];
            tail++;
            sti();
            return c;
        }
        int c = serial_getc(); /* the receive interrupt may have been lost */
        if (c >= 0) {
            sti();
            return c;
        }
        /* sti takes effect after the next instruction, so no interrupt can
         * slip in between the check above and the hlt. */
        __asm__ volatile("sti; hlt" ::: "memory");
    }
}

bool arch_input_take_interrupt(void)
{
    bool on = arch_irq_save();
    int c;
    while ((c = serial_getc()) >= 0) /* the receive interrupt may have been lost */
        input_push((uint8_t)c);
    bool found = false;
    for (unsigned i = tail; i != head; i++)
        if (ring[i % RING_SIZE] == 0x03) {
            tail = i + 1;
            found = true;
            break;
        }
    arch_irq_restore(on);
    return found;
}

uint64_t arch_ticks(void)
{
    return ticks;
}
