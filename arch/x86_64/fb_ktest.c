/*
 * In-kernel tests of the framebuffer console's memory type (`test=fb_`):
 * VMM_WC and the PAT on this CPU, and the live framebuffer mapping, which
 * must be write-combining or uncached, never write-back.
 */
#include <pagoda/fbcon.h>
#include <pagoda/ktest.h>
#include <pagoda/pmm.h>
#include <pagoda/vmm.h>

#include "console.h"
#include "vmm_internal.h"
#include "x86.h"

#define MSR_PAT 0x277
#define PAT_WC 0x01

/* The memory type a 4 KiB PTE selects: PAT entry (PAT, PCD, PWT); without
 * a PAT (whose MSR would then fault), PCD alone means uncached. */
static unsigned pte_type(uint64_t pte)
{
    if (!x86_pat_init())
        return pte & PTE_PCD ? 0 : 6;
    unsigned idx = (pte & PTE_HUGE ? 4 : 0) | (pte & PTE_PCD ? 2 : 0) | (pte & PTE_PWT ? 1 : 0);
    return (unsigned)(rdmsr(MSR_PAT) >> (idx * 8)) & 7;
}

static uint64_t pte_of(vaddr_t va)
{
    return *(volatile uint64_t *)pg_pte_addr(RECURSIVE_SLOT, va);
}

KTEST(fb_wc_mapping_is_wc_or_uncached)
{
    bool pat = x86_pat_init(); /* first: VMM_WC means WC only once the PAT says so */
    paddr_t pa = (paddr_t)pmm_alloc(1);
    KT_ASSERT(pa != 0);
    vaddr_t va = pg_make(120, 0, 0, 0, 0);
    KT_ASSERT_EQ(vmm_map(va, pa, VMM_WRITE | VMM_NX | VMM_WC), 0);
    uint64_t pte = pte_of(va);
    unsigned type = pte_type(pte);
    if (pat) {
        KT_ASSERT_EQ(type, PAT_WC);
        unsigned flags;
        KT_ASSERT_EQ(vmm_translate(va, NULL, &flags), 0);
        KT_ASSERT(flags & VMM_WC);
    } else {
        KT_ASSERT(type == 0 /* UC */ || type == 7 /* UC- */);
    }
    paddr_t back;
    KT_ASSERT_EQ(vmm_unmap(va, &back), 0);
    KT_ASSERT_EQ(back, pa);
    pmm_free((void *)pa, 1);
}

KTEST(fb_screen_never_write_back)
{
    const struct fbcon *c = fb_console_get();
    if (!c)
        return; /* VGA text: nothing mapped */
    size_t bytes = (size_t)c->s.pitch * c->s.height;
    for (size_t off = 0; off < bytes; off += PAGE_SIZE) {
        vaddr_t va = ALIGN_DOWN((vaddr_t)c->s.base + off, PAGE_SIZE);
        unsigned type = pte_type(pte_of(va));
        KT_ASSERT(type == PAT_WC || type == 0 || type == 7);
    }
}
