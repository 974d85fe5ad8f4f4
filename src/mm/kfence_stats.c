/*
 * kfence's report for the monitor's `heap` (the pool itself: kfence.c).
 */
#include <pagoda/kfence.h>
#include <pagoda/printk.h>

bool kfence_slot_live(unsigned i, uintptr_t *addr, size_t *size);

void kfence_print_stats(void)
{
    struct kfence_stats st;
    kfence_get_stats(&st);
    if (!kfence_pool_bytes) {
        printk("kfence: off (heap_sample=0)\n");
        return;
    }
    if (st.interval)
        printk("kfence: sampling about 1 in %llu allocations into %u guarded slots at 0x%llx\n",
               (unsigned long long)st.interval, st.slots, (unsigned long long)kfence_pool_lo);
    else
        printk("kfence: sampling paused; %u guarded slots at 0x%llx\n", st.slots,
               (unsigned long long)kfence_pool_lo);
    printk("kfence: %u live (%llu bytes), %llu sampled, %llu freed, %llu not sampled "
           "(pool full), %llu not sampled (over a page), %llu bugs reported\n",
           st.live, (unsigned long long)st.live_bytes, (unsigned long long)st.allocs,
           (unsigned long long)st.frees, (unsigned long long)st.pool_full,
           (unsigned long long)st.too_big, (unsigned long long)st.bugs);
    unsigned shown = 0;
    for (unsigned i = 0; i < KFENCE_SLOTS && shown < 8; i++) {
        uintptr_t addr;
        size_t size;
        if (!kfence_slot_live(i, &addr, &size))
            continue;
        printk("  slot %2u: %zu bytes at 0x%016llx\n", i, size, (unsigned long long)addr);
        shown++;
    }
}
