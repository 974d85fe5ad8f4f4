/*
 * The monitor's `cpus`: one line per CPU from its struct cpu, the free
 * frames its PMM frame cache holds (`frames`) and the free objects its heap
 * magazines cache (`mag`), then the TLB shootdowns of all CPUs.
 */
#include <pagoda/kmalloc.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/tlb.h>

#include "monitor.h"

void mon_cmd_cpus(int argc, char **argv)
{
    struct cpu *me = this_cpu();
    printk("cpu  apic  state     ticks       ipis   locks  frames    mag\n");
    for (unsigned i = 0; i < cpu_count(); i++) {
        struct cpu *c = cpu_get(i);
        printk("%3u  %4u  %-8s  %10llu  %6llu  %5u  %6zu  %5zu%s\n", c->index, c->apic_id,
               cpu_state_name(c->state), (unsigned long long)c->ticks,
               (unsigned long long)c->ipis, c->nlocks, pmm_pcp_count(i), kheap_mag_count(i),
               c == me ? "   <- this CPU (monitor)" : "");
    }
    printk("%u of %u CPUs online; LAPIC ticks at 100 Hz; frames: free frames in the CPU's "
           "frame cache; mag: free heap objects in its magazines\n", smp_online(), cpu_count());
    struct tlb_stats t, sum = {0};
    for (unsigned i = 0; i < cpu_count(); i++) {
        tlb_get_stats(i, &t);
        sum.shootdowns += t.shootdowns, sum.ipis += t.ipis, sum.received += t.received;
        sum.pages += t.pages, sum.full += t.full;
    }
    printk("TLB shootdowns (all CPUs): %llu sent as %llu IPIs, %llu answered, %llu pages "
           "and %llu full flushes done\n", (unsigned long long)sum.shootdowns,
           (unsigned long long)sum.ipis, (unsigned long long)sum.received,
           (unsigned long long)sum.pages, (unsigned long long)sum.full);
}
