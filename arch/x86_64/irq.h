/* The legacy interrupt hardware behind the monitor's input: the 8259 PICs,
 * the PIT, the PS/2 keyboard, and the input queue they feed. */
#ifndef PAGODA_IRQ_H
#define PAGODA_IRQ_H

#include <pagoda/types.h>

#define IRQ_PIT 0
#define IRQ_KBD 1
#define IRQ_COM1 4

/* Remap both PICs to IRQ_BASE..IRQ_BASE+15 with every line masked, and
 * install the spurious IRQ 7/15 handlers. Idempotent. */
void pic_init(void);
void pic_unmask(unsigned irq);
void pic_mask(unsigned irq);
/* End of interrupt for `irq` (both PICs for lines 8..15). */
void pic_eoi(unsigned irq);

/* The lines both PICs have in service (bit n: IRQ n), i.e. handlers that
 * have not sent their EOI yet. */
uint16_t pic_in_service(void);
/* End every line in service: for the monitor's recovery point, which is
 * outside every interrupt handler, so a line still in service there belongs
 * to a handler that faulted or panicked and will never send its EOI. */
void pic_eoi_in_service(void);
/* PIT channel 0 as a periodic tick at `hz` on IRQ 0. */
void pit_init(unsigned hz);
/* Busy-wait `us` microseconds on PIT channel 2 (not channel 0's tick), with
 * interrupts in any state: for LAPIC calibration and the SIPI delays. */
void pit_delay_us(uint64_t us);

/* Enable the PS/2 keyboard's IRQ 1 (scancode set 1, translated by the
 * controller as the BIOS leaves it). */
void kbd_init(void);
/* Translate one set-1 scancode into bytes for the input queue. */
void kbd_scancode(uint8_t sc);

/* Queue bytes for arch_input_getc; drops input when the queue is full.
 * Called from interrupt handlers, with interrupts off. */
void input_push(uint8_t c);
void input_push_str(const char *s);
/* The next queued byte, or -1 at once when the queue is empty. */
int input_trypop(void);

#endif
