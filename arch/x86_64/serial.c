/*
 * 16550 UART on COM1, 115200 8N1, polled.
 *
 * We poll LSR before every byte, which Bochs's strict model needs, and never
 * spin forever: a missing UART is detected once at init (loopback test) and
 * from then on serial output is skipped, so a PC without COM1 never hangs.
 */
#include "console.h"
#include "x86.h"

#define COM1 0x3F8
#define UART_DATA 0
#define UART_IER  1
#define UART_FCR  2
#define UART_LCR  3
#define UART_MCR  4
#define UART_LSR  5
#define LSR_DR    0x01 /* data ready */
#define LSR_THRE  0x20 /* transmit holding register empty */
#define LSR_TEMT  0x40 /* transmitter completely empty */

static bool present;

bool serial_init(void)
{
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, 0x80); /* DLAB: the next two writes set the divisor */
    outb(COM1 + UART_DATA, 0x01);
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, 0x03); /* 8N1 */
    outb(COM1 + UART_FCR, 0xC7); /* FIFOs on, cleared, 14-byte threshold */

    /* Loopback: what we send must come back. No UART reads back 0xFF. */
    outb(COM1 + UART_MCR, 0x1E);
    outb(COM1 + UART_DATA, 0xAE);
    for (int i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & LSR_DR); i++)
        ;
    present = inb(COM1 + UART_DATA) == 0xAE;

    outb(COM1 + UART_MCR, 0x0B); /* normal mode, DTR, RTS, OUT2 */
    return present;
}

bool serial_present(void) { return present; }

void serial_putc(char c)
{
    if (!present)
        return;
    for (int i = 0; i < 1000000; i++) {
        if (inb(COM1 + UART_LSR) & LSR_THRE) {
            outb(COM1 + UART_DATA, (uint8_t)c);
            return;
        }
        cpu_relax();
    }
}

int serial_getc(void)
{
    if (!present || !(inb(COM1 + UART_LSR) & LSR_DR))
        return -1;
    return inb(COM1 + UART_DATA);
}

void serial_drain(void)
{
    if (!present)
        return;
    for (int i = 0; i < 1000000 && !(inb(COM1 + UART_LSR) & LSR_TEMT); i++)
        cpu_relax();
}

void serial_enable_rx_irq(void)
{
    if (!present)
        return;
    /* Interrupt on every received byte (FIFO trigger level 1), not at 14. */
    outb(COM1 + UART_FCR, 0x01);
    outb(COM1 + UART_IER, 0x01);
}
