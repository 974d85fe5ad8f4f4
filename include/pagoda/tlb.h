/*
 * TLB shootdown (arch/x86_64/tlb.c): flushing a translation on the other
 * CPUs that may cache it, with acknowledgement. The VMM calls it after it
 * has cleared or weakened page-table entries and before it gives their
 * frames back (arch/x86_64/vmm_lock.c); nothing else needs to.
 */
#ifndef PAGODA_TLB_H
#define PAGODA_TLB_H

#include <pagoda/types.h>

/* A request names a range of at most TLB_RANGE_MAX pages, flushed page by
 * page (invlpg); anything larger is one full flush (global entries too). */
#define TLB_RANGE_MAX 32
#define TLB_FLUSH_ALL ((size_t)-1)

/* Per-CPU counters, all monotonic. */
struct tlb_stats {
    uint64_t shootdowns; /* requests this CPU sent to at least one CPU */
    uint64_t ipis;       /* IPIs it sent (one per target per request) */
    uint64_t received;   /* requests it answered */
    uint64_t pages;      /* pages it flushed one by one for others */
    uint64_t full;       /* full flushes it did for others */
};

/* Install the shootdown vector (boot CPU, once the LAPIC is up). Before
 * this, and whenever one CPU is online, a shootdown is a local flush. */
void tlb_init(void);
/* Flush [start, start + pages * 4 KiB) (or everything, pages ==
 * TLB_FLUSH_ALL) on every CPU in the mask `targets` (bit i: CPU i; the
 * caller's own bit is ignored, its flush is the caller's business) and wait
 * until each has done so. Not from an interrupt handler. Panics, naming the
 * CPU, if one does not answer in time. */
void tlb_shootdown(uint32_t targets, vaddr_t start, size_t pages);
/* The mask of online CPUs other than the caller. */
uint32_t tlb_others_online(void);
/* Answer every shootdown request waiting for this CPU (cheap when none is):
 * for loops that wait with interrupts off. */
void tlb_poll(void);
/* CPU `index`'s counters (zeros for an unknown CPU). */
void tlb_get_stats(unsigned index, struct tlb_stats *out);

#endif
