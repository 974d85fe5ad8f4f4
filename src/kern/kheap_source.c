/*
 * The kernel heap's page source: the KHEAP_BASE..KHEAP_LIMIT region of
 * <pagoda/memlayout.h>, grown upwards one page at a time with a PMM frame
 * mapped RW+NX by the VMM, and shrunk from the top by unmapping and freeing
 * the frames. A grow that runs out of frames (or table pages) undoes what it
 * mapped and returns NULL, so kmalloc returns NULL instead of panicking.
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
    vaddr_t brk;  /* the heap's pages are [KHEAP_BASE, brk) */
    size_t limit; /* a test cap on bytes mapped (0: none) */
} kvm;

/* Unmap [va, va + bytes) and free the frames behind it. */
static void release(vaddr_t va, size_t bytes)
{
    for (size_t off = 0; off < bytes; off += PAGE_SIZE) {
        paddr_t pa;
        if (vmm_unmap(va + off, &pa) == 0)
            pmm_free((void *)pa, 1);
    }
}

static void *kvm_grow(struct heap_source *src, size_t bytes)
{
    vaddr_t at = kvm.brk;
    if (bytes > KHEAP_LIMIT - at)
        return NULL;
    if (kvm.limit && bytes > kvm.limit - (at - KHEAP_BASE))
        return NULL;
    for (size_t off = 0; off < bytes; off += PAGE_SIZE) {
        void *frame = pmm_alloc(1);
        if (!frame || vmm_map(at + off, (paddr_t)frame, VMM_WRITE | VMM_NX) != 0) {
            if (frame)
                pmm_free(frame, 1);
            release(at, off);
            return NULL;
        }
    }
    kvm.brk += bytes;
    return (void *)at;
}

static void kvm_shrink(struct heap_source *src, void *ptr, size_t bytes)
{
    release((vaddr_t)ptr, bytes);
    if ((vaddr_t)ptr + bytes == kvm.brk)
        kvm.brk = (vaddr_t)ptr;
}

void kheap_source_limit(size_t bytes)
{
    kvm.limit = bytes;
}

void kheap_boot_init(void)
{
    kvm.src.grow = kvm_grow;
    kvm.src.shrink = kvm_shrink;
    kvm.brk = KHEAP_BASE;
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
