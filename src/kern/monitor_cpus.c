/*
 * The monitor's `cpus`: one line per CPU from its struct cpu, and the free
 * objects its heap magazines cache (`mag`).
 */
#include <pagoda/kmalloc.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>

#include "monitor.h"

void mon_cmd_cpus(int argc, char **argv)
{
    struct cpu *me = this_cpu();
    printk("cpu  apic  state     ticks       ipis   locks    mag\n");
    for (unsigned i = 0; i < cpu_count(); i++) {
        struct cpu *c = cpu_get(i);
        printk("%3u  %4u  %-8s  %10llu  %6llu  %5u  %5zu%s\n", c->index, c->apic_id,
               cpu_state_name(c->state), (unsigned long long)c->ticks,
               (unsigned long long)c->ipis, c->nlocks, kheap_mag_count(i),
               c == me ? "   <- this CPU (monitor)" : "");
    }
    printk("%u of %u CPUs online; LAPIC ticks at 100 Hz\n", smp_online(), cpu_count());
}
