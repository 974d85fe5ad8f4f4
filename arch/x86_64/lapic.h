/* The local APIC of each CPU: xAPIC through an uncached MMIO page, x2APIC
 * through MSRs when CPUID reports it (arch/x86_64/lapic.c). */
#ifndef PAGODA_LAPIC_H
#define PAGODA_LAPIC_H

#include <pagoda/types.h>

#define LAPIC_TIMER_VEC    0xF0 /* each CPU's periodic tick */
#define LAPIC_CALL_VEC     0xF1 /* "look at your call mailbox" */
#define LAPIC_TLB_VEC      0xF2 /* "answer your TLB-shootdown inbox" (tlb.c) */
#define LAPIC_SPURIOUS_VEC 0xFF
#define LAPIC_HZ           100

/* Boot CPU: map the LAPIC at phys (uncached), pick x2APIC when the CPU has
 * it (unless use_x2apic is false), enable it, calibrate its timer against
 * the PIT and start it. 0, or -E_NOENT without an APIC (CPUID). */
int lapic_init_boot(paddr_t phys, bool use_x2apic);
/* An AP, in its own kernel entry: the same mode as the boot CPU, enabled,
 * its timer started with the boot CPU's calibration. */
void lapic_init_ap(void);

uint32_t lapic_id(void);
bool lapic_x2apic(void);
/* Timer counts per LAPIC_HZ period (divide by 16), from the calibration. */
uint32_t lapic_timer_count(void);
void lapic_eoi(void);

/* Interprocessor interrupts to one APIC id. Each waits (bounded) for the
 * previous one to be accepted; false when the APIC never accepted it. */
bool lapic_send_init(uint32_t apic_id);
bool lapic_send_sipi(uint32_t apic_id, uint8_t page);
bool lapic_send_ipi(uint32_t apic_id, uint8_t vector);
bool lapic_send_nmi(uint32_t apic_id);

/* The stubs in smp_entry.asm. */
extern const uint8_t lapic_isr_timer[], lapic_isr_call[], lapic_isr_spurious[], lapic_isr_tlb[];

#endif
