/*
 * The kernel heap's page source: the KHEAP_BASE..KHEAP_LIMIT region of
 * <pagoda/memlayout.h>, grown upwards one page at a time with a PMM frame
 * mapped RW+NX by the VMM, and shrunk by unmapping and freeing the frames:
 * from the top (the break moves down), or inside, where the heap's release
 * policy gives back the pages of big free blocks and commit maps fresh
 * frames there again before the heap reuses them. A grow or commit that
 * runs out of frames (or table pages) undoes what it mapped and fails, so
 * kmalloc returns NULL instead of panicking; the heap answers a failed grow
 * by running its release policy in full and retrying, which is how the PMM
 * running low makes the heap give memory back.
 *
 * kheap_boot_init() starts the heap over it; call it after vmm_init. Before
 * that, kmalloc serves from the bump arena (src/mm/bump.c).
 */
#include <pagoda/kernel.h>
#include <pagoda/kmalloc.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/slab.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

#include "kheap_source.h"

static struct {
    struct heap_source src;
    vaddr_t brk;        /* the heap's pages are [KHEAP_BASE, brk) */
    size_t limit;       /* a test cap on bytes mapped (0: none) */
    size_t mapped;      /* bytes mapped now */
} kvm;

/* Unmap [va, va + bytes) and free the frames behind it (pages the heap
 * decommitted earlier are not mapped: skipped). */
static void release(vaddr_t va, size_t bytes)
{
    /* One shootdown per batch of pages (every CPU may cache heap pages),
     * and each frame back to the PMM only after it. */
    kvm.mapped -= vmm_unmap_release(va, bytes / PAGE_SIZE, true) * PAGE_SIZE;
}

/* Back [va, va + bytes) with fresh frames; false (nothing left mapped) if
 * frames or table pages run out, or the test cap is reached. */
static bool back(vaddr_t va, size_t bytes)
{
    if (kvm.limit && kvm.mapped + bytes > kvm.limit)
        return false;
    for (size_t off = 0; off < bytes; off += PAGE_SIZE) {
        void *frame = pmm_alloc(1);
        if (!frame || vmm_map(va + off, (paddr_t)frame, VMM_WRITE | VMM_NX) != 0) {
            if (frame)
                pmm_free(frame, 1);
            release(va, off);
            return false;
        }
        kvm.mapped += PAGE_SIZE;
    }
    return true;
}

static void *kvm_grow(struct heap_source *src, size_t bytes)
{
    vaddr_t at = kvm.brk;
    if (bytes > KHEAP_LIMIT - at)
        return NULL;
    if (!back(at, bytes))
        return NULL;
    kvm.brk += bytes;
    return (void *)at;
}

static bool kvm_commit(struct heap_source *src, void *ptr, size_t bytes)
{
    return back((vaddr_t)ptr, bytes);
}

static void kvm_shrink(struct heap_source *src, void *ptr, size_t bytes)
{
    release((vaddr_t)ptr, bytes);
    if ((vaddr_t)ptr + bytes == kvm.brk)
        kvm.brk = (vaddr_t)ptr; /* inside, the heap may commit the pages again */
}

void kheap_source_limit(size_t bytes)
{
    kvm.limit = bytes;
}

void kheap_boot_init(void)
{
    kvm.src.grow = kvm_grow;
    kvm.src.shrink = kvm_shrink;
    kvm.src.commit = kvm_commit;
    kvm.brk = KHEAP_BASE;
    kvm.mapped = 0;
    /* Hardening: `heap_harden=0|1|2`, else on (1) for `test` boots and the
     * build's default otherwise. */
    char arg[8];
    int harden = -1;
    if (cmdline_get("heap_harden", arg, sizeof(arg)))
        harden = arg[0] >= '0' && arg[0] <= '2' ? arg[0] - '0' : 1;
    else if (cmdline_get("test", arg, sizeof(arg)))
        harden = 1;
    struct kheap_stats st;
    kheap_stats(&st);
    kheap_init(&kvm.src, harden);
    size_t used = st.bump_used;
    kheap_stats(&st);
    printk("heap: at %#llx, bump arena used %zu of %zu bytes before it, hardening %d\n",
           (unsigned long long)KHEAP_BASE, used, st.bump_size, st.harden);
}

/* The CraftyOS demonstration: a string built by successive krealloc growth. */
void kheap_demo_string(void)
{
    static const char *const parts[] = {"This", " is", " a", " string."};
    char *s = NULL;
    size_t len = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t n = strlen(parts[i]);
        char *t = krealloc(s, len + n + 1);
        if (!t) {
            kfree(s);
            printk("heap: krealloc failed in the string demonstration\n");
            return;
        }
        s = t;
        memcpy(s + len, parts[i], n + 1);
        len += n;
    }
    printk("%s\n", s);
    kfree(s);
}
