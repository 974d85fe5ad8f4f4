/*
 * What a sample costs in the kernel, against an ordinary kmalloc+kfree
 * pair: fenced rdtsc as in kbench.c (under an emulator the cycles are
 * relative only). It prints the figures and checks only that sampling was
 * really exercised; the README's cost figures come from the host tool.
 */
#include <pagoda/kfence.h>
#include <pagoda/kmalloc.h>
#include <pagoda/ktest.h>
#include <pagoda/printk.h>

#include "x86.h"

/* Cycles per kmalloc(32)+kfree pair, fastest of 16 rounds of n pairs; each
 * pair forced into the pool when `sampled`. */
static uint64_t pair_cycles(bool sampled, unsigned n)
{
    uint64_t best = UINT64_MAX;
    for (int round = 0; round < 16; round++) {
        uint64_t t0 = rdtsc_fenced();
        for (unsigned i = 0; i < n; i++) {
            if (sampled)
                kfence_force_next();
            void *volatile p = kmalloc(32);
            kfree(p);
        }
        uint64_t dt = (rdtsc_fenced() - t0) / n;
        best = dt < best ? dt : best;
    }
    return best;
}

KTEST(kfence_cost_of_a_sample)
{
    if (!kfence_interval())
        return;
    struct kfence_stats s0, s1;
    kfence_get_stats(&s0);
    uint64_t plain = pair_cycles(false, 2000);
    uint64_t sample = pair_cycles(true, 200);
    kfence_get_stats(&s1);
    KT_ASSERT(s1.allocs - s0.allocs >= 16 * 200);
    KT_ASSERT_EQ(s1.live, s0.live);
    uint64_t n = kfence_interval();
    printk("  a sampled kmalloc+kfree: %llu cycles, an ordinary one: %llu; at 1 in %llu that "
           "adds %llu.%02llu%% to a pair\n",
           (unsigned long long)sample, (unsigned long long)plain, (unsigned long long)n,
           (unsigned long long)(sample * 100 / (n * (plain ? plain : 1))),
           (unsigned long long)(sample * 10000 / (n * (plain ? plain : 1)) % 100));
}
