/*
 * What the SMP VMM tests share (tlb_ktest.c, vmm_smp_ktest.c): waits that
 * answer shootdowns (the boot CPU runs tests with interrupts off, and
 * another CPU may be waiting for its flush), a barrier, the counters.
 */
#ifndef PAGODA_TLB_KTEST_H
#define PAGODA_TLB_KTEST_H

#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/errno.h>
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/spinlock.h>
#include <pagoda/tlb.h>
#include <pagoda/vmm.h>

#include "irq.h"
#include "vmm_internal.h"
#include "x86.h"

#define CALL_MS 60000
#define WAIT_MS 20000

static uint64_t tsc_ms;

/* Free frames plus the pages the heap holds: the heap's release policy may
 * give idle pages back during a test (a free of the test's own can start a
 * run), which moves the free count but is no leak; a leak moves this. */
static inline uint64_t free_frames(void)
{
    struct pmm_stats st;
    static struct kheap_stats hs; /* static: the frame bound */
    pmm_get_stats(&st);
    kheap_stats(&hs);
    return st.free_pages + hs.heap_pages;
}

static inline void calibrate(void)
{
    if (tsc_ms)
        return;
    uint64_t t0 = rdtsc_fenced();
    pit_delay_us(10000);
    tsc_ms = MAX((rdtsc_fenced() - t0) / 10, 1ULL);
}

/* Wait until *v == want (answering shootdowns), at most WAIT_MS. */
static inline bool wait_for(volatile int *v, int want)
{
    uint64_t t0 = rdtsc_fenced();
    while (__atomic_load_n(v, __ATOMIC_ACQUIRE) != want) {
        tlb_poll();
        cpu_relax();
        if (rdtsc_fenced() - t0 > WAIT_MS * tsc_ms)
            return false;
    }
    return true;
}

/* All n CPUs meet here before any goes on. */
static volatile unsigned bar_count, bar_gen;
static inline void barrier(unsigned n)
{
    unsigned gen = __atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&bar_count, 1, __ATOMIC_ACQ_REL) == n) {
        __atomic_store_n(&bar_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&bar_gen, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE) == gen) {
        tlb_poll();
        cpu_relax();
    }
}

static inline void stats_all(struct tlb_stats st[SMP_MAX_CPUS])
{
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        tlb_get_stats(i, &st[i]);
}

static inline unsigned popcount(uint32_t m)
{
    unsigned n = 0;
    for (; m; m &= m - 1)
        n++;
    return n;
}

static inline bool two_cpus(void)
{
    return cpu_count() >= 2 && cpu_get(1)->state == CPU_ONLINE;
}


#endif
