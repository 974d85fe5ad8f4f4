/*
 * In-kernel benchmarks (`bench` on the command line, or the monitor's
 * `bench` command): the PMM, heap and slab operations of tests/bench, timed
 * with fenced rdtsc on the real kernel allocators, printed as cycles per
 * operation.
 *
 * Under an emulator (QEMU TCG, Bochs) a "cycle" is whatever the emulated TSC
 * advances by: the figures compare operations with each other, not with real
 * hardware, and every line says so.
 *
 * Each figure is the fastest of KBENCH_SLICES loops of N operations, each
 * between two fenced rdtsc reads, after a warm-up: the fences cost nothing
 * per operation. Allocators that are not linked into this build (weak
 * references left NULL) or not yet initialised are reported as skipped
 * rather than called.
 */
#include <arch/arch.h>
#include <pagoda/kbench.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>

#include "x86.h"

#include <pagoda/kmalloc.h>
#pragma weak kmalloc
#pragma weak kfree
#pragma weak kheap_stats
#include <pagoda/slab.h>
#pragma weak kmem_cache_create
#pragma weak kmem_cache_alloc
#pragma weak kmem_cache_free
#pragma weak kmem_cache_destroy
#pragma weak pmm_alloc
#pragma weak pmm_free
#pragma weak pmm_get_stats
#pragma weak pmm_pcp_set_enabled
#pragma weak arch_fb_console_bench

static const char *emu_note;

/* Keep a value alive without a memory access the loop would pay for. */
static inline void kbench_sink(const void *p) { __asm__ volatile("" ::"r"(p) : "memory"); }

static void report(const char *name, uint64_t cycles, uint64_t ops)
{
    printk("kbench: %-18s %6llu cycles/op%s\n", name, (unsigned long long)(cycles / ops),
           emu_note);
}

/* Time `ops` alloc+free pairs in KBENCH_SLICES slices and report the fastest
 * slice, as the host benchmark does: under an emulator, a slice in which
 * the host descheduled QEMU says nothing about the allocator. */
#define KBENCH_SLICES 8
#define KBENCH_PAIRS(name, ops, alloc_expr, free_stmt)                         \
    do {                                                                       \
        uint64_t best_ = UINT64_MAX, per_ = (ops) / KBENCH_SLICES;             \
        for (int s_ = 0; s_ < KBENCH_SLICES; s_++) {                           \
            uint64_t t0_ = rdtsc_fenced();                                     \
            for (uint64_t i_ = 0; i_ < per_; i_++) {                           \
                void *p = (alloc_expr);                                        \
                kbench_sink(p);                                                \
                free_stmt;                                                     \
            }                                                                  \
            uint64_t dt_ = rdtsc_fenced() - t0_;                               \
            if (dt_ < best_)                                                   \
                best_ = dt_;                                                   \
        }                                                                      \
        report((name), best_, per_);                                           \
    } while (0)

static void bench_pmm(void)
{
    struct pmm_stats st = {0};
    if (!pmm_alloc || !pmm_free || !pmm_get_stats) {
        printk("kbench: pmm skipped (not in this build)\n");
        return;
    }
    pmm_get_stats(&st);
    if (st.usable_pages == 0) {
        printk("kbench: pmm skipped (not initialised)\n");
        return;
    }
    static const size_t runs[] = {1, 16, 512};
    static const char *const names[] = {"pmm_pair", "pmm_contig16", "pmm_contig512"};
    for (int r = 0; r < 3; r++) {
        const uint64_t n = r == 0 ? 20000 : 2000;
        void *p = pmm_alloc(runs[r]);
        if (!p) {
            printk("kbench: %s skipped (no free run)\n", names[r]);
            continue;
        }
        pmm_free(p, runs[r]);
        KBENCH_PAIRS(names[r], n, pmm_alloc(runs[r]), pmm_free(p, runs[r]));
    }
    /* The same single-frame pair around the per-CPU frame cache: the global
     * lock and the bitmap on every call (pmm_pair above is the cached one). */
    if (pmm_pcp_set_enabled) {
        bool was = pmm_pcp_set_enabled(false);
        KBENCH_PAIRS("pmm_pair_locked", 20000, pmm_alloc(1), pmm_free(p, 1));
        pmm_pcp_set_enabled(was);
    }
    /* Sequential fill of up to 16,384 frames, then give them back. */
    static void *frames[16384];
    uint64_t n = 0, t0 = rdtsc_fenced();
    while (n < 16384 && (frames[n] = pmm_alloc(1)) != NULL)
        n++;
    uint64_t t1 = rdtsc_fenced();
    for (uint64_t i = 0; i < n; i++)
        pmm_free(frames[i], 1);
    if (n)
        report("pmm_fill", t1 - t0, n);
}

/* Returns whether the heap is up (the slab caches depend on it). */
static bool bench_heap(void)
{
    if (!kmalloc || !kfree || !kheap_stats) {
        printk("kbench: heap skipped (not in this build)\n");
        return false;
    }
    /* The host benchmark's sizes up to 1 MiB. Past the small classes a
     * pair may grow or shrink the heap, and then pays the real page
     * tables: pmm_alloc + vmm_map per page, or vmm_unmap + invlpg +
     * pmm_free; the page-source calls per 1000 pairs are printed too. */
    static const size_t sizes[] = {16,   64,   256,   1024,  2048,   3000,
                                   4096, 8192, 16384, 65536, 262144, 1048576};
    char name[32];
    /* Before kheap_init, kmalloc serves from the boot bump arena, which
     * never reuses memory: timing it would only exhaust it. */
    /* Static: with a row per size class, two of them pass the frame bound. */
    static struct kheap_stats st0, st1;
    kheap_stats(&st0);
    kfree(kmalloc(16));
    kheap_stats(&st1);
    if (st1.bump_used != st0.bump_used) {
        printk("kbench: heap skipped (only the boot bump arena is up)\n");
        return false;
    }
    for (unsigned k = 0; k < ARRAY_SIZE(sizes); k++) {
        const uint64_t n = sizes[k] <= 2048 ? 20000 : sizes[k] <= 65536 ? 2000 : 400;
        void *p = kmalloc(sizes[k]);
        if (!p) {
            printk("kbench: kmalloc(%zu) failed: heap skipped\n", sizes[k]);
            return false;
        }
        kfree(p);
        ksnprintf(name, sizeof(name), "kmalloc_pair_%zu", sizes[k]);
        kheap_stats(&st0);
        KBENCH_PAIRS(name, n, kmalloc(sizes[k]), kfree(p));
        kheap_stats(&st1);
        uint64_t pairs = n / KBENCH_SLICES * KBENCH_SLICES;
        printk("kbench: %s source grows %llu shrinks %llu per 1000 pairs\n", name,
               (unsigned long long)((st1.grows - st0.grows) * 1000 / pairs),
               (unsigned long long)((st1.shrinks - st0.shrinks) * 1000 / pairs));
    }
    return true;
}

static void bench_slab(void)
{
    if (!kmem_cache_create || !kmem_cache_alloc || !kmem_cache_free) {
        printk("kbench: slab skipped (not in this build)\n");
        return;
    }
    struct kmem_cache *c = kmem_cache_create("kbench64", 64, 16, NULL, NULL);
    if (!c) {
        printk("kbench: slab skipped (cache creation failed)\n");
        return;
    }
    const uint64_t n = 20000;
    kmem_cache_free(c, kmem_cache_alloc(c));
    KBENCH_PAIRS("slab_pair_64", n, kmem_cache_alloc(c), kmem_cache_free(c, p));
    if (kmem_cache_destroy)
        kmem_cache_destroy(c);
}

/* Time every allocator that is up and print one line per figure. */
void kbench_run(void)
{
    const char *emu = arch_emulator_name();
    emu_note = emu ? " (emulated: relative only)" : "";
    printk("kbench: fenced rdtsc, cycles per operation%s%s\n", emu ? ", emulated under " : "",
           emu ? emu : "");
    bench_pmm();
    if (bench_heap())
        bench_slab();
    else
        printk("kbench: slab skipped (no heap)\n");
    if (arch_fb_console_bench)
        arch_fb_console_bench();
    printk("kbench: done\n");
}
