/*
 * The kernel side of the sampled guard pages and of freed-frame checking.
 *
 * kfence's pool sits at the top of the kernel heap region (so a sampled
 * pointer is a heap address like any other), in one page table: an anchor
 * page mapped read-only at the table's first entry keeps that table alive,
 * so making a slot present or not is one PTE write and an invlpg, never a
 * table allocation. Each slot owns one frame for good (KFENCE_SLOTS frames,
 * 256 KiB), mapped while the slot holds an object; guard pages never are.
 * The frames never go back to the PMM, so the heap's tests, which check
 * that the PMM's free count returns exactly, see no difference.
 *
 * Stacks come from the frame-pointer walk of arch/x86_64 (the same rules as
 * the backtraces of panics), the seed of the sampling intervals from the TSC.
 *
 * pmm_check gets its bitmap (one bit per frame) from vmm_alloc.
 */
#include <arch/arch.h>
#include <pagoda/kernel.h>
#include <pagoda/kfence.h>
#include <pagoda/memlayout.h>
#include <pagoda/parse.h>
#include <pagoda/pmm.h>
#include <pagoda/pmm_check.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

#include "memcheck_boot.h"
#include "x86.h"

/* The anchor's page table covers [KFENCE_PT, KFENCE_PT + 2 MiB). */
#define KFENCE_PT (KHEAP_LIMIT - MiB(2))
#define KFENCE_BASE (KFENCE_PT + PAGE_SIZE)
_Static_assert(KFENCE_POOL_BYTES + PAGE_SIZE <= MiB(2), "the kfence pool must fit one page table");

static paddr_t slot_frame[KFENCE_SLOTS];

static int kernel_set_present(struct kfence_source *src, uintptr_t page, bool present)
{
    size_t slot = ((page - src->base) / PAGE_SIZE - 1) / 2;
    if (present)
        return slot_frame[slot] ? vmm_map(page, slot_frame[slot], VMM_WRITE | VMM_NX) : -1;
    return vmm_unmap(page, NULL);
}

static unsigned kernel_stack(uintptr_t *pcs, unsigned max)
{
    /* Skip this function and kfence's own: start at kmalloc/kfree. (The
     * barrier keeps the call from becoming a tail call, which would take
     * this function's frame out of the count.) */
    unsigned n = arch_stack_capture(pcs, max, 2);
    __asm__ volatile("" ::: "memory");
    return n;
}

static struct kfence_source ksrc = {
    .base = KFENCE_BASE,
    .set_present = kernel_set_present,
    .stack = kernel_stack,
    .print_pc = arch_print_pc,
};

struct kfence_source *kfence_kernel_source(void)
{
    return &ksrc;
}

static void kfence_boot(void)
{
    char arg[24];
    uint64_t n = KFENCE_SAMPLE_DEFAULT;
    if (cmdline_get("heap_sample", arg, sizeof(arg)) && parse_u64(arg, &n) != 0) {
        printk("kfence: heap_sample=%s is not a number; using %u\n", arg, KFENCE_SAMPLE_DEFAULT);
        n = KFENCE_SAMPLE_DEFAULT;
    }
    if (n == 0) {
        printk("kfence: off (heap_sample=0)\n");
        return;
    }
    paddr_t anchor = (paddr_t)pmm_allocz(1);
    if (!anchor || vmm_map(KFENCE_PT, anchor, VMM_NX) != 0) {
        printk("kfence: no memory for the pool: off\n");
        return;
    }
    unsigned got = 0;
    for (unsigned i = 0; i < KFENCE_SLOTS; i++)
        got += (slot_frame[i] = (paddr_t)pmm_alloc(1)) != 0;
    kfence_init(&ksrc, n, rdtsc_fenced());
    printk("kfence: %u guarded slots at %#llx, sampling about 1 in %llu allocations\n", got,
           (unsigned long long)KFENCE_BASE, (unsigned long long)n);
}

static void pmm_check_boot(void)
{
    char arg[8];
    if (!cmdline_get("pmm_check", arg, sizeof(arg)) || strcmp(arg, "0") == 0)
        return;
    size_t bytes = pmm_check_bitmap_bytes();
    void *bitmap = vmm_alloc(bytes, VMM_WRITE | VMM_NX);
    if (!bitmap) {
        printk("pmm_check: no memory for its %zu-byte bitmap: off\n", bytes);
        return;
    }
    pmm_check_enable(bitmap);
    printk("pmm_check: on: freed frames are filled with %#llx and verified when handed out "
           "again (%zu-byte bitmap at %p)\n",
           (unsigned long long)PMM_CHECK_PATTERN, bytes, bitmap);
}

void memcheck_boot_init(void)
{
    pmm_check_boot();
    kfence_boot();
}
