/*
 * fault=KIND: make one protection of the kernel's address space fire, so a
 * user can watch it (and `make test` can check it). Each fatal kind ends in
 * the page-fault report or the stack-overflow report, then leaves the
 * emulator with status 35; `demand` must not fault fatally at all. The heap
 * kinds (double-free, invalid-free) end in the heap's own report, from the
 * checks every boot runs (hardening level 0 included).
 */
#include <arch/arch.h>
#include <pagoda/kernel.h>
#include <pagoda/kfence.h>
#include <pagoda/kmalloc.h>
#include <pagoda/pmm.h>
#include <pagoda/pmm_check.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

#include "vmm_demo.h"

/* A page of .data holding one `ret`: executable only if NX is missing. */
static uint8_t nx_page[4096] __attribute__((aligned(4096))) = {0xC3};

static void demo_null(void)
{
    int *volatile p = NULL; /* volatile: the compiler must not see it is NULL */
    printk("fault=null: reading through a NULL pointer\n");
    printk("read %d (should not get here)\n", *p);
}

static void demo_wx(void)
{
    uint8_t *volatile code = (uint8_t *)(uintptr_t)&fault_demo_run;
    printk("fault=wx: writing to .text at %p (fault_demo_run)\n", (void *)code);
    *code = 0xCC;
}

static void demo_nx(void)
{
    unsigned flags = 0;
    vmm_translate((vaddr_t)nx_page, NULL, &flags);
    printk("fault=nx: jumping into a .data page at %p (NX %s)\n", (void *)nx_page,
           (flags & VMM_NX) ? "set" : "not available on this CPU");
    void (*volatile fn)(void) = (void (*)(void))(uintptr_t)nx_page;
    fn();
    panic("fault=nx: the data page at %p ran: this CPU has no NX, so W^X covers writes only",
          (void *)nx_page);
}

static unsigned recurse(unsigned depth)
{
    volatile char pad[256];
    pad[0] = (char)depth;
    if (depth == 0xffffffffu)
        return 0;
    return recurse(depth + 1) + (unsigned)pad[0];
}

static void demo_stack(void)
{
    printk("fault=stack: recursing without bound on the boot stack\n");
    printk("returned %u (should not get here)\n", recurse(0));
}

static void demo_demand(void)
{
    const size_t pages = 4;
    volatile uint64_t *p = vmm_alloc(pages * PAGE_SIZE, VMM_DEMAND | VMM_WRITE | VMM_NX);
    if (!p)
        panic("fault=demand: vmm_alloc of %zu demand pages failed", pages);
    bool mapped = vmm_translate((vaddr_t)p, NULL, NULL) == 0;
    printk("fault=demand: reserved %zu pages at %p (first page mapped: %s)\n", pages, (void *)p,
           mapped ? "yes" : "no");
    uint64_t v = p[0];
    paddr_t pa = 0;
    mapped = vmm_translate((vaddr_t)p, &pa, NULL) == 0;
    p[PAGE_SIZE / 8 * 2] = 0x5ca1ab1e;
    printk("fault=demand: read 0x%llx at %p, now backed by frame 0x%llx (mapped: %s); "
           "wrote and read 0x%llx in page 2\n",
           (unsigned long long)v, (void *)p, (unsigned long long)pa, mapped ? "yes" : "no",
           (unsigned long long)p[PAGE_SIZE / 8 * 2]);
    vmm_free((void *)p);
    printk("fault=demand: demand paging works\n");
    if (kernel_exit_on_panic)
        arch_emulator_exit(true);
}

/* A sampled object (forced): NULL, said why, when sampling is off. */
static uint8_t *sampled_object(const char *kind, size_t size)
{
    kfence_force_next();
    uint8_t *p = kmalloc(size);
    if (p && kfence_owns(p))
        return p;
    printk("fault=%s: sampled guard pages are off (heap_sample=0): nothing to show\n", kind);
    kfree(p);
    return NULL;
}

/* An overflow by one byte: the object ends against its guard page. */
static void demo_oob(void)
{
    uint8_t *volatile p = sampled_object("oob", 32);
    if (!p)
        return;
    printk("fault=oob: a sampled 32-byte object at %p; writing the byte just past its end\n",
           (void *)p);
    p[32] = 0x41;
    printk("wrote past the end (should not get here)\n");
}

/* A write through a dangling pointer: the freed slot's page is unmapped. */
static void demo_uaf(void)
{
    uint8_t *volatile p = sampled_object("uaf", 48);
    if (!p)
        return;
    memset(p, 0, 48);
    kfree(p);
    printk("fault=uaf: freed the sampled 48-byte object at %p; writing through the pointer\n",
           (void *)p);
    p[8] = 0x41;
    printk("wrote into the freed object (should not get here)\n");
}

/* A write through a stale mapping of a freed frame, caught when the PMM
 * hands the frame out again. */
static void demo_frame_uaf(void)
{
    if (!pmm_check_enabled()) {
        printk("fault=frame-uaf: needs pmm_check=1 on the command line\n");
        return;
    }
    paddr_t pa = (paddr_t)pmm_alloc(1);
    uint8_t *volatile va = pa ? vmm_map_temp(pa) : NULL;
    if (!va)
        panic("fault=frame-uaf: no frame to play with");
    pmm_free((void *)pa, 1);
    printk("fault=frame-uaf: freed frame 0x%llx, still mapped at %p; writing through that "
           "mapping\n",
           (unsigned long long)pa, (void *)va);
    va[0x123] = 0x41;
    vmm_unmap_temp((void *)va);
    /* The freed frame is the lowest free one: the next allocations reach it. */
    void *held[64];
    unsigned n = 0;
    while (n < ARRAY_SIZE(held) && (held[n] = pmm_alloc(1)) != NULL && (paddr_t)held[n++] != pa)
        ;
    printk("fault=frame-uaf: frame 0x%llx handed out again unnoticed (should not get here)\n",
           (unsigned long long)pa);
    while (n)
        pmm_free(held[--n], 1);
}

static void demo_double_free(void)
{
    struct kheap_stats st;
    kheap_stats(&st);
    void *keep = kmalloc(64); /* the chunk stays in use after the first kfree */
    void *volatile p = kmalloc(64);
    printk("fault=double-free: kfree(%p) twice, a 64-byte block, hardening level %d\n", p,
           st.harden);
    kfree(p);
    kfree(p);
    panic("fault=double-free: the second kfree of %p returned", p);
    kfree(keep);
}

static void demo_invalid_free(void)
{
    struct kheap_stats st;
    kheap_stats(&st);
    char *volatile p = kmalloc(100);
    printk("fault=invalid-free: kfree(%p), 16 bytes into a block at %p, hardening level %d\n",
           (void *)(p + 16), (void *)p, st.harden);
    kfree(p + 16);
    panic("fault=invalid-free: kfree of %p returned", (void *)(p + 16));
}

void fault_demo_run(const char *kind)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } kinds[] = {
        {"null", demo_null},   {"wx", demo_wx},         {"nx", demo_nx},
        {"stack", demo_stack}, {"demand", demo_demand},
        {"oob", demo_oob},     {"uaf", demo_uaf},       {"frame-uaf", demo_frame_uaf},
        {"double-free", demo_double_free},
        {"invalid-free", demo_invalid_free},
    };
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (strcmp(kind, kinds[i].name) == 0) {
            kinds[i].fn();
            return;
        }
    printk("fault=%s: unknown; choose null, wx, nx, stack, demand, oob, uaf, frame-uaf, "
           "double-free or invalid-free\n",
           kind);
}
