/*
 * The IDT: the 32 exception vectors and the 16 PIC lines, all through the
 * stubs in isr.asm. #DF, NMI and #MC run on IST stacks (see cpu.c).
 */
#include "cpu.h"

struct idt_gate {
    uint16_t off_lo;
    uint16_t sel;
    uint8_t ist;
    uint8_t type;
    uint16_t off_mid;
    uint32_t off_hi;
    uint32_t zero;
} __attribute__((packed));

#define GATE_INTR 0x8E /* present, DPL 0, 64-bit interrupt gate */

extern const uint64_t isr_table[48];
static struct idt_gate idt[256] __attribute__((aligned(16)));

static void set_gate(int v, uint64_t handler, uint8_t ist)
{
    idt[v] = (struct idt_gate){
        .off_lo = (uint16_t)handler,
        .sel = GDT_KCODE,
        .ist = ist,
        .type = GATE_INTR,
        .off_mid = (uint16_t)(handler >> 16),
        .off_hi = (uint32_t)(handler >> 32),
    };
}

void idt_set_gate(int v, uint64_t handler, uint8_t ist)
{
    if (v >= 48 && v < 256)
        set_gate(v, handler, ist);
}

/* A gate user code may reach with `int v` (DPL 3), for system calls. */
void idt_set_user_gate(int v, uint64_t handler)
{
    set_gate(v, handler, 0);
    idt[v].type = 0xEE; /* present, DPL 3, 64-bit interrupt gate */
}

void idt_init(void)
{
    for (int v = 0; v < 48; v++)
        set_gate(v, isr_table[v], 0);
    set_gate(2, isr_table[2], IST_NMI);
    set_gate(8, isr_table[8], IST_DF);
    set_gate(18, isr_table[18], IST_MC);
    idt_load();
}

void idt_load(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) ptr = {sizeof(idt) - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" ::"m"(ptr));
}
