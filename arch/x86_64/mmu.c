/*
 * The MMU contract (<arch/mmu.h>) for x86_64: each call is one page-table
 * operation through the recursive window (the live space) or the foreign
 * window (any other), under the page-table lock, plus the PMM for frames and
 * this CPU's temp window for their contents. Unmap and protect return once
 * every CPU where the space is active has flushed the page (vmm_lock.c), so
 * the VM may free or share the frame at once: one shootdown per page, since
 * the contract is one page at a time.
 *
 * Every user leaf gets PTE_USER. Intermediate tables in the user half are
 * already user-accessible (vmm.c), so the leaf alone decides.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "vmm_internal.h"

struct vmm_space *arch_mmu_create(void)
{
    return vmm_space_create();
}

void arch_mmu_destroy(struct vmm_space *s)
{
    vmm_space_destroy(s);
}

void arch_mmu_activate(struct vmm_space *s)
{
    struct vmm_space *t = s ? s : &vmm_kernel_space;
    if (t != vmm_live())
        vmm_space_switch(t); /* keeps t->active for the shootdowns */
}

int arch_mmu_map(struct vmm_space *s, vaddr_t va, paddr_t pa, unsigned flags)
{
    if (va >= USER_LIMIT)
        return -E_RANGE;
    return vmm_space_map(s, va, pa, (flags & (MMU_WRITE | MMU_NX)) | VMM_USER);
}

int arch_mmu_unmap(struct vmm_space *s, vaddr_t va, paddr_t *pa)
{
    if (va >= USER_LIMIT)
        return -E_RANGE;
    return vmm_space_unmap(s, va, pa);
}

int arch_mmu_protect(struct vmm_space *s, vaddr_t va, unsigned flags)
{
    if (va >= USER_LIMIT)
        return -E_RANGE;
    return vmm_space_protect(s, va, (flags & (MMU_WRITE | MMU_NX)) | VMM_USER);
}

int arch_mmu_query(struct vmm_space *s, vaddr_t va, paddr_t *pa, unsigned *flags)
{
    if (va >= USER_LIMIT)
        return -E_RANGE;
    int rc = vmm_space_translate(s, va, pa, flags);
    if (rc == 0 && pa)
        *pa = ALIGN_DOWN(*pa, PAGE_SIZE);
    return rc;
}

paddr_t arch_frame_alloc(void)
{
    return (paddr_t)pmm_alloc_below(1, MMU_FRAME_LIMIT);
}

void arch_frame_free(paddr_t pa)
{
    pmm_free((void *)pa, 1);
}

void arch_frame_zero(paddr_t pa)
{
    void *p = vmm_map_temp(pa);
    memset(p, 0, PAGE_SIZE);
    vmm_unmap_temp(p);
}

void arch_frame_copy(paddr_t dst, paddr_t src)
{
    void *d = vmm_map_temp(dst);
    void *s = vmm_map_temp(src);
    memcpy(d, s, PAGE_SIZE);
    vmm_unmap_temp(s);
    vmm_unmap_temp(d);
}

void arch_frame_write(paddr_t pa, size_t off, const void *src, size_t n)
{
    ASSERT(off + n <= PAGE_SIZE);
    uint8_t *p = vmm_map_temp(pa);
    memcpy(p + off, src, n);
    vmm_unmap_temp(p);
}

void arch_frame_read(paddr_t pa, size_t off, void *dst, size_t n)
{
    ASSERT(off + n <= PAGE_SIZE);
    const uint8_t *p = vmm_map_temp(pa);
    memcpy(dst, p + off, n);
    vmm_unmap_temp((void *)p);
}
