/*
 * TLB shootdown: making the other CPUs forget translations we changed.
 *
 * Theory of operation
 * -------------------
 * x86 keeps no TLB coherent with memory: a CPU that cached a translation
 * keeps using it after another CPU clears the page-table entry, until it
 * flushes that page (invlpg), reloads CR3 (non-global entries) or toggles
 * CR4.PGE (all of them). So the VMM, after changing an entry that another CPU
 * may cache, asks those CPUs to flush, and waits until each has.
 *
 * Mailboxes. Each CPU has one request slot of its own, reqs[me]: the range
 * (start, pages, or TLB_FLUSH_ALL) and `pending`, the mask of targets that
 * have not acknowledged yet. Each CPU also has an inbox, a mask of the CPUs
 * whose request waits for it. A sender:
 *   1. fills its slot and sets pending = targets (release);
 *   2. for each target: sets its own bit in the target's inbox (atomic or),
 *      then sends it LAPIC_TLB_VEC;
 *   3. waits until pending is 0, answering its own inbox meanwhile
 *      (tlb_poll), so two CPUs shooting at each other both get through, and
 *      panics naming the first CPU still pending after TLB_TIMEOUT_MS.
 * A target (the IPI handler, or tlb_poll from any waiting loop) exchanges
 * its inbox with 0 (acquire), and for each sender bit flushes that sender's
 * range, counts, and clears its own bit in the sender's pending (release).
 * The sender does not touch its slot again until pending is 0, so a target
 * always reads a whole, current request. A request is answered exactly once
 * (whoever took the inbox bit answers it), and an IPI that arrives while
 * the vector is in service stays pending in the APIC, so none is lost.
 * The sender's own flush is its business (the VMM invlpg's as it clears).
 *
 * Why that is enough for correctness (with the VMM, vmm_lock.c): the entry
 * is cleared (a locked or ordered store) before the request is posted; a
 * target acknowledges only after its flush; so once pending is 0 no CPU in
 * the mask can use the old translation, and only then does the VMM give the
 * frame (or a freed page table) back to the PMM. A CPU not in the mask
 * either never had the translation (a user space not active there) or took
 * its own flush by switching CR3 (vmm_space.c orders the switch against the
 * mask read).
 *
 * Waiting without deadlock: the sender waits with interrupts as its caller
 * had them (on, for every allocator path), and answers requests addressed
 * to it by polling, so it never needs its own IPI to be delivered. A CPU
 * that waits with interrupts off elsewhere answers by polling too: the
 * spinlock wait loop (spin_wait_hook), and smp_call_all's wait. A CPU that
 * stops (panic NMI) is dropped from pending: it will never run again.
 *
 * Cost: one cache line written per target and one IPI; a target does at
 * most TLB_RANGE_MAX invlpg or one full flush.
 *
 * Weaknesses: no PCIDs, so a full flush is a real one; one outstanding
 * request per CPU (shootdowns are never sent from interrupt handlers); the
 * targets are polled one IPI at a time (no broadcast shorthand).
 */
#include <arch/arch.h>
#include <pagoda/percpu.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/spinlock.h>
#include <pagoda/tlb.h>

#include "cpu.h"
#include "irq.h"
#include "lapic.h"
#include "x86.h"

#define TLB_TIMEOUT_MS 10000

_Static_assert(SMP_MAX_CPUS <= 32, "CPU masks are 32-bit");

struct tlb_req {
    vaddr_t start;
    size_t pages;
    volatile uint32_t pending; /* targets yet to acknowledge */
} __attribute__((aligned(64)));

struct tlb_box {
    volatile uint32_t inbox; /* senders whose request waits for this CPU */
    struct tlb_stats st;     /* written by this CPU only */
} __attribute__((aligned(64)));

static struct tlb_req reqs[SMP_MAX_CPUS];
static struct tlb_box boxes[SMP_MAX_CPUS];
static bool ready;
static uint64_t tsc_per_ms;

/* Flush what a request names, here. A full flush toggles CR4.PGE, which
 * drops global entries too (kernel pages may be global); without PGE a CR3
 * reload is everything. */
static void flush_here(vaddr_t start, size_t pages, struct tlb_stats *st)
{
    if (pages == TLB_FLUSH_ALL || pages > TLB_RANGE_MAX) {
        bool irq = arch_irq_save();
        uint64_t cr4 = read_cr4();
        if (cr4 & CR4_PGE) {
            write_cr4(cr4 & ~CR4_PGE);
            write_cr4(cr4);
        } else {
            write_cr3(read_cr3());
        }
        arch_irq_restore(irq);
        st->full++;
        return;
    }
    for (size_t i = 0; i < pages; i++)
        invlpg(start + i * PAGE_SIZE);
    st->pages += pages;
}

void tlb_poll(void)
{
    unsigned me = this_cpu()->index;
    struct tlb_box *b = &boxes[me];
    if (!__atomic_load_n(&b->inbox, __ATOMIC_RELAXED))
        return;
    uint32_t from = __atomic_exchange_n(&b->inbox, 0, __ATOMIC_ACQUIRE);
    while (from) {
        unsigned s = (unsigned)__builtin_ctz(from);
        from &= from - 1;
        struct tlb_req *r = &reqs[s];
        flush_here(r->start, r->pages, &b->st);
        b->st.received++;
        __atomic_fetch_and(&r->pending, ~(1u << me), __ATOMIC_RELEASE);
    }
}

static bool tlb_irq(struct trap_frame *f)
{
    UNUSED(f);
    tlb_poll();
    lapic_eoi();
    return true;
}

static void spin_wait_answer(void) { tlb_poll(); }

void tlb_init(void)
{
    uint64_t t0 = rdtsc_fenced();
    pit_delay_us(10000);
    tsc_per_ms = (rdtsc_fenced() - t0) / 10;
    if (tsc_per_ms == 0)
        tsc_per_ms = 1000000; /* a TSC that does not tick: ~1 GHz worth of loops */
    trap_set_handler(LAPIC_TLB_VEC, tlb_irq);
    idt_set_gate(LAPIC_TLB_VEC, (uint64_t)lapic_isr_tlb, 0);
    spin_wait_hook = spin_wait_answer;
    __atomic_store_n(&ready, true, __ATOMIC_RELEASE);
}

uint32_t tlb_others_online(void)
{
    uint32_t m = 0;
    unsigned me = this_cpu()->index;
    for (unsigned i = 0; i < cpu_count(); i++)
        if (i != me && __atomic_load_n(&cpu_get(i)->state, __ATOMIC_ACQUIRE) == CPU_ONLINE)
            m |= 1u << i;
    return m;
}

/* Targets that stopped (a panic's NMI) will never answer: let them go. */
static void drop_stopped(struct tlb_req *r)
{
    uint32_t left = __atomic_load_n(&r->pending, __ATOMIC_ACQUIRE);
    while (left) {
        unsigned t = (unsigned)__builtin_ctz(left);
        left &= left - 1;
        if (__atomic_load_n(&cpu_get(t)->state, __ATOMIC_ACQUIRE) != CPU_ONLINE)
            __atomic_fetch_and(&r->pending, ~(1u << t), __ATOMIC_RELEASE);
    }
}

void tlb_shootdown(uint32_t targets, vaddr_t start, size_t pages)
{
    struct cpu *me = this_cpu();
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        return; /* one CPU: the caller's own flush is all there is */
    targets &= tlb_others_online();
    if (!targets || pages == 0)
        return;
    if (pages > TLB_RANGE_MAX)
        pages = TLB_FLUSH_ALL;
    struct tlb_req *r = &reqs[me->index];
    struct tlb_stats *st = &boxes[me->index].st;
    if (__atomic_load_n(&r->pending, __ATOMIC_ACQUIRE))
        panic("tlb_shootdown: CPU %u sends a request while its last one is pending "
              "(from an interrupt handler?)", me->index);
    r->start = start;
    r->pages = pages;
    __atomic_store_n(&r->pending, targets, __ATOMIC_RELEASE);
    st->shootdowns++;
    for (uint32_t m = targets; m;) {
        unsigned t = (unsigned)__builtin_ctz(m);
        m &= m - 1;
        __atomic_fetch_or(&boxes[t].inbox, 1u << me->index, __ATOMIC_SEQ_CST);
        lapic_send_ipi(cpu_get(t)->apic_id, LAPIC_TLB_VEC);
        st->ipis++;
    }
    uint64_t t0 = rdtsc_fenced(), limit = TLB_TIMEOUT_MS * tsc_per_ms;
    for (uint64_t spins = 0; __atomic_load_n(&r->pending, __ATOMIC_ACQUIRE); spins++) {
        tlb_poll(); /* the CPU we wait for may be waiting for us */
        cpu_relax();
        if ((spins & 1023) != 1023)
            continue;
        drop_stopped(r);
        uint32_t left = __atomic_load_n(&r->pending, __ATOMIC_ACQUIRE);
        if (left && rdtsc_fenced() - t0 > limit)
            panic("tlb_shootdown: CPU %u did not acknowledge CPU %u's TLB shootdown in %u ms",
                  (unsigned)__builtin_ctz(left), me->index, TLB_TIMEOUT_MS);
    }
}

void tlb_get_stats(unsigned index, struct tlb_stats *out)
{
    *out = (struct tlb_stats){0};
    if (index < SMP_MAX_CPUS)
        *out = boxes[index].st;
}
