/*
 * kfence's reports: the pieces every bug report prints (under kf.lock,
 * from kfence.c), and the pool's statistics for the monitor's `heap`.
 */
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "kfence_internal.h"

void kfence_print_stack(const char *title, const uintptr_t *pcs, unsigned n)
{
    printk("  %s:\n", title);
    if (n == 0)
        printk("    (no stack recorded)\n");
    for (unsigned i = 0; i < n; i++) {
        if (kf.src && kf.src->print_pc)
            kf.src->print_pc(i, pcs[i]);
        else
            printk("    #%u 0x%016llx\n", i, (unsigned long long)pcs[i]);
    }
}

static const char *state_name(const struct kslot *s)
{
    return s->state == SLOT_LIVE ? "live" : s->state == SLOT_FREED ? "freed" : "never used";
}

/* The report's body: the object and its stacks. */
void kfence_report_object(const struct kslot *s)
{
    if (!s || s->state == SLOT_UNUSED) {
        printk("  no object was ever placed near this address\n");
        return;
    }
    printk("  object: %zu bytes at 0x%016llx..0x%016llx, slot %u, %s\n", s->size,
           (unsigned long long)s->addr, (unsigned long long)(s->addr + s->size),
           (unsigned)(s - kf.slots), state_name(s));
    kfence_print_stack("allocated by", s->alloc_pcs, s->nalloc);
    if (s->state == SLOT_FREED)
        kfence_print_stack("freed by", s->free_pcs, s->nfree);
}

void kfence_report_begin(void)
{
    kf.st.bugs++;
    printk("\n==================================================================\n");
}

void kfence_report_end(void)
{
    printk("==================================================================\n");
}

/* Where p is relative to s's object, as "N bytes left/right of" or "N bytes
 * into". */
void kfence_where(char *buf, size_t size, const struct kslot *s, uintptr_t p)
{
    if (p < s->addr)
        ksnprintf(buf, size, "%llu bytes left of", (unsigned long long)(s->addr - p));
    else if (p >= s->addr + s->size)
        ksnprintf(buf, size, "%llu bytes right of", (unsigned long long)(p - (s->addr + s->size)));
    else
        ksnprintf(buf, size, "%llu bytes into", (unsigned long long)(p - s->addr));
}


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
