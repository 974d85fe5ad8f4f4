/*
 * Monitor commands on the kernel heap: kmalloc, kfree, heap, slabinfo, and
 * the heap's part of `mem`.
 *
 * kfree from a prompt is the easiest way to hand the heap a bad pointer, and
 * the heap answers a bad free with panic() (that is its job). So the monitor
 * keeps a table of the blocks its own kmalloc returned, and kfree accepts
 * exactly those: anything else is refused before the heap sees it. The table
 * is small; a full table refuses further kmallocs rather than forget one.
 */
#include <pagoda/kfence.h>
#include <pagoda/kmalloc.h>
#include <pagoda/pmm.h>
#include <pagoda/pmm_check.h>
#include <pagoda/printk.h>
#include <pagoda/slab.h>

#include "monitor.h"

#define TRACK_MAX 32

static struct {
    void *ptr;
    size_t size;
} blocks[TRACK_MAX];

void mon_heap_summary(void)
{
    struct kheap_stats st;
    kheap_stats(&st);
    printk("heap:   %zu bytes live in %zu objects (peak %zu), %zu pages held, "
           "bump arena %zu/%zu bytes\n",
           st.live_bytes, st.live_objects, st.peak_live_bytes, st.heap_pages, st.bump_used,
           st.bump_size);
    unsigned mine = 0;
    for (unsigned i = 0; i < TRACK_MAX; i++)
        mine += blocks[i].ptr != NULL;
    if (mine)
        printk("        %u of those blocks came from the monitor's kmalloc\n", mine);
}

void mon_cmd_kmalloc(int argc, char **argv)
{
    struct pmm_stats pst;
    struct kheap_stats hst;
    pmm_get_stats(&pst);
    kheap_stats(&hst);
    uint64_t n, max = pst.free_pages * PAGE_SIZE;
    /* Before kheap_init, kmalloc is the boot bump arena, which panics when
     * exhausted: stay inside what is left of it. */
    bool bump = !kheap_ready();
    if (bump)
        max = hst.bump_size - hst.bump_used > 64 ? hst.bump_size - hst.bump_used - 64 : 0;
    if (max == 0) {
        printk("kmalloc: no memory left to try (%s)\n",
               bump ? "boot bump arena full" : "no frames");
        return;
    }
    if (!mon_count(argv[1], "size", max, &n)) {
        if (bump)
            printk("(the heap is not started yet: kmalloc serves from the boot bump arena)\n");
        return;
    }
    unsigned slot = 0;
    while (slot < TRACK_MAX && blocks[slot].ptr)
        slot++;
    if (slot == TRACK_MAX) {
        printk("the monitor already holds %d blocks: kfree some first\n", TRACK_MAX);
        return;
    }
    void *p = kmalloc(n);
    if (!p) {
        printk("kmalloc(%llu): out of memory\n", (unsigned long long)n);
        return;
    }
    blocks[slot].ptr = p;
    blocks[slot].size = n;
    printk("kmalloc(%llu) = %p (usable %zu bytes)\n", (unsigned long long)n, p,
           kmalloc_usable_size(p));
}

void mon_cmd_kfree(int argc, char **argv)
{
    vaddr_t va;
    if (!mon_va(argv[1], &va))
        return;
    for (unsigned i = 0; i < TRACK_MAX; i++) {
        if (blocks[i].ptr && (vaddr_t)blocks[i].ptr == va) {
            kfree(blocks[i].ptr);
            printk("kfree(%p): %zu bytes back to the heap\n", blocks[i].ptr, blocks[i].size);
            blocks[i].ptr = NULL;
            return;
        }
    }
    printk("refusing: 0x%llx is not a live block from this monitor's kmalloc (the heap "
           "panics on a bad free)\n",
           (unsigned long long)va);
}

/* The optional checks' part of `heap`: the sampled guard pages' pool and
 * freed-frame checking. */
static void mon_heap_checks(void)
{
    kfence_print_stats();
    struct pmm_check_stats pc;
    pmm_check_get_stats(&pc);
    if (pmm_check_enabled())
        printk("pmm_check: on: %llu frames filled on free, %llu verified on reuse, %llu waiting\n",
               (unsigned long long)pc.filled, (unsigned long long)pc.verified,
               (unsigned long long)pc.pending);
    else
        printk("pmm_check: off (pmm_check=1 on the command line turns it on)\n");
}

void mon_cmd_heap(int argc, char **argv)
{
    kheap_print_stats();
    mon_heap_checks();
    int err = kheap_check();
    printk("heap check: %s\n", err ? "FAILED (see above)" : "every structure consistent");
}

/* Every cache, the heap's internal one included, then every kmalloc class
 * the kernel has blocks of, in the same columns (a span is the class's
 * slab). */
void mon_cmd_slabinfo(int argc, char **argv)
{
    kmem_cache_print_info();
    struct kheap_stats st;
    kheap_stats(&st);
    for (unsigned c = 0; c < KHEAP_NCLASSES; c++) {
        const struct kheap_class_stats *k = &st.cls[c];
        if (!k->chunks)
            continue;
        char name[24];
        ksnprintf(name, sizeof(name), "kmalloc-%u", k->size);
        printk("%-22s %7llu %6llu %7u %8llu %8u %5u\n", name, (unsigned long long)k->live,
               (unsigned long long)k->capacity, k->size,
               (unsigned long long)(k->capacity / k->chunks), k->span_bytes / 1024, k->chunks);
    }
}
