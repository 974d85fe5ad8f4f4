/*
 * The page attribute table: one entry reprogrammed to write-combining, for
 * the framebuffer.
 *
 * A 4 KiB PTE picks PAT entry (PAT << 2 | PCD << 1 | PWT), PAT being bit 7.
 * The power-on table is WB, WT, UC-, UC, WB, WT, UC-, UC, and no mapping the
 * kernel makes sets the PAT bit, so entries 4..7 are unused copies. Entry 4
 * (PAT bit alone) becomes WC; VMM_WC sets exactly that bit. Because no live
 * mapping uses entry 4, changing it needs no care about aliases: write the
 * MSR, then flush the caches and the TLB so nothing cached under the old
 * entry survives. With several CPUs each must load the same table.
 */
#include <pagoda/printk.h>

#include "vmm_internal.h"
#include "x86.h"

#define MSR_PAT 0x277
#define PAT_WC 0x01ULL
#define PAT_ENTRY_WC 4

static bool cpu_has_pat(void)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    return d & (1u << 16);
}

bool x86_pat_init(void)
{
    if (vmm_pat_wc)
        return true;
    if (!cpu_has_pat())
        return false;
    uint64_t pat = rdmsr(MSR_PAT);
    pat &= ~(0xFFULL << (PAT_ENTRY_WC * 8));
    pat |= PAT_WC << (PAT_ENTRY_WC * 8);
    __asm__ volatile("wbinvd" ::: "memory");
    wrmsr(MSR_PAT, pat);
    __asm__ volatile("wbinvd" ::: "memory");
    write_cr3(read_cr3()); /* non-global entries; no global one uses entry 4 */
    vmm_pat_wc = true;
    return true;
}
