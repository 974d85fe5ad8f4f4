/*
 * Address spaces: a PML4 each, the kernel half shared, the user half private.
 *
 * Theory of operation. A space is one PML4 frame. Its entries 256..511 are
 * copies of the kernel space's, so every space sees the same kernel PDPTs
 * (vmm_init creates each kernel-half PDPT the layout uses before any space
 * exists, and the VMM never frees one), except entry 510, which points at
 * the space's own PML4 (its recursive slot), and entry 509, which is empty.
 *
 * To edit a space that is not live, vmm_attach points the live PML4's entry
 * 509 at it and reloads CR3, and vmm_detach clears the entry and reloads CR3
 * again, so no translation of the foreign window outlives an attachment; the page-table code then runs through
 * FOREIGN_SLOT (see <arch/paging.h> for the address arithmetic).
 *
 * SMP. Each CPU has its own live space (live[], its CR3). A space's
 * `active` mask says which CPUs have it in CR3: vmm_space_switch sets the
 * new space's bit (an atomic or, which is a full barrier) before the CR3
 * load and clears the old one's after it. That is the "correct", not lazy,
 * variant: a CPU switching away has flushed the old space's user entries
 * (they are never global) by its CR3 load before its bit goes, so a
 * shootdown in that space may skip it; a CPU switching in is either seen
 * by the shooter's read of the mask (it gets the IPI, perhaps for
 * nothing) or walks the tables after the shooter's store (vmm_lock.c).
 * Edits of a space, live or foreign, run under the page-table lock; the
 * foreign slot lives in the live PML4, shared by every CPU on that space,
 * so it needs that lock as well (attach_cpu records who holds it).
 *
 * The kernel half needs no propagation: vmm_init creates each kernel-half
 * PML4 entry the layout uses before any space or AP exists, every space
 * copies them at creation, and the VMM never creates nor frees one later
 * (vmm.c refuses with -E_RANGE). So a kernel mapping made on any CPU is in
 * the tables every CPU walks, whatever space it runs; only stale TLB
 * entries need the shootdown.
 *
 * Cost: create is one frame and 256 entry copies; destroy walks every
 * present user-half table once. Descriptors come from a fixed pool
 * (space_desc_alloc), the one place to change for a slab cache later.
 *
 * Weaknesses: a kernel-half PML4 entry created after a space is made would
 * not reach it (vmm_init pre-creates them all for that reason); a space may
 * not be destroyed while another CPU runs it (that panics).
 */
#include <arch/arch.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/percpu.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>

#include "vmm_internal.h"
#include "x86.h"

#define SPACE_POOL 32

struct vmm_space vmm_kernel_space;
static struct vmm_space *live[SMP_MAX_CPUS]; /* each CPU's CR3, as a space */
static volatile int attach_cpu = -1;        /* who holds the foreign slot */
static struct vmm_space space_pool[SPACE_POOL];

struct vmm_space *vmm_live(void)
{
    return live[this_cpu()->index];
}

/* Make s this CPU's space (CR3 loaded by the caller, or about to be). */
static void set_live(struct vmm_space *s)
{
    unsigned me = this_cpu()->index;
    live[me] = s;
    __atomic_fetch_or(&s->active, 1u << me, __ATOMIC_SEQ_CST);
}

void vmm_cpu_init(void)
{
    set_live(&vmm_kernel_space); /* the trampoline's last CR3 */
}

/* The descriptor allocator: a fixed pool now, a slab cache when one exists. */
static struct vmm_space *space_desc_alloc(void)
{
    for (int i = 0; i < SPACE_POOL; i++)
        if (!space_pool[i].in_use) {
            space_pool[i].in_use = true;
            return &space_pool[i];
        }
    return NULL;
}

static void space_desc_free(struct vmm_space *s)
{
    s->in_use = false;
}

static volatile uint64_t *live_pml4e(unsigned l4)
{
    return (volatile uint64_t *)pg_pml4e_addr(RECURSIVE_SLOT, pg_make(l4, 0, 0, 0, 0));
}

unsigned vmm_attach(struct vmm_space *s)
{
    if (s == vmm_live() || !s)
        return RECURSIVE_SLOT;
    volatile uint64_t *e = live_pml4e(FOREIGN_SLOT);
    ASSERT(!(*e & PTE_PRESENT)); /* one foreign space at a time */
    attach_cpu = (int)this_cpu()->index;
    *e = s->pml4 | vmm_window_bits();
    write_cr3(read_cr3());
    return FOREIGN_SLOT;
}

bool vmm_attached_here(void)
{
    return attach_cpu == (int)this_cpu()->index &&
           (*live_pml4e(FOREIGN_SLOT) & PTE_PRESENT);
}

void vmm_detach(unsigned slot)
{
    /* Flush as the window closes, not only when the next one opens: until
     * then the TLB would still reach the detached space's tables at
     * PML4[509], and a stray access there (the monitor's peek or poke) would
     * read or write them, or their frames once the space is destroyed. */
    if (slot == FOREIGN_SLOT) {
        *live_pml4e(FOREIGN_SLOT) = 0;
        write_cr3(read_cr3());
        attach_cpu = -1;
    }
}

struct vmm_space *vmm_space_kernel(void)
{
    return &vmm_kernel_space;
}

struct vmm_space *vmm_space_create(void)
{
    vmm_pt_lock(NULL); /* the descriptor pool and the foreign slot */
    struct vmm_space *s = space_desc_alloc();
    paddr_t pml4 = s ? vmm_alloc_table() : 0;
    if (!pml4) {
        if (s)
            space_desc_free(s);
        vmm_pt_unlock();
        return NULL;
    }
    s->pml4 = pml4;
    s->active = 0;
    /* Copy the kernel half from the kernel space's PML4: attach it if it is
     * not the live one, then read through the slot it is visible at. */
    unsigned slot = vmm_attach(&vmm_kernel_space);
    volatile uint64_t *kpml4 = (volatile uint64_t *)pg_pml4e_addr(slot, pg_make(0, 0, 0, 0, 0));
    uint64_t *t = vmm_map_temp(pml4);
    for (unsigned i = 256; i < PG_ENTRIES; i++)
        t[i] = kpml4[i];
    t[FOREIGN_SLOT] = 0;
    t[RECURSIVE_SLOT] = pml4 | vmm_window_bits();
    vmm_unmap_temp(t);
    vmm_detach(slot);
    vmm_pt_unlock();
    return s;
}

void vmm_space_switch(struct vmm_space *s)
{
    ASSERT(s && s->pml4);
    bool irq = arch_irq_save();
    unsigned me = this_cpu()->index;
    struct vmm_space *old = live[me];
    set_live(s); /* the bit first: a shooter that misses it sees our walk later */
    write_cr3(s->pml4);
    if (old && old != s) /* after the load: old's user entries are gone here */
        __atomic_fetch_and(&old->active, ~(1u << me), __ATOMIC_SEQ_CST);
    arch_irq_restore(irq);
}

/* Free a user frame: a space owns every PMM frame mapped in its user half,
 * once. Frames the PMM never handed out (device memory, low memory, the
 * kernel image) may be mapped too: those stay where they are. A frame mapped
 * twice would be freed twice, which is a bug and panics. */
static void free_user_frame(paddr_t pa)
{
    int rc = pmm_free_checked((void *)pa, 1);
    if (rc == -E_DOUBLE)
        panic("vmm_space_destroy: frame 0x%llx freed twice", (unsigned long long)pa);
}

void vmm_space_destroy(struct vmm_space *s)
{
    if (!s || s == &vmm_kernel_space || !s->in_use)
        panic("vmm_space_destroy: cannot destroy %s", !s ? "NULL"
                                                      : s == &vmm_kernel_space
                                                          ? "the kernel space"
                                                          : "a destroyed space");
    if (s == vmm_live())
        vmm_space_switch(&vmm_kernel_space);
    uint32_t elsewhere = __atomic_load_n(&s->active, __ATOMIC_SEQ_CST);
    if (elsewhere)
        panic("vmm_space_destroy: the space is still live on CPU %u",
              (unsigned)__builtin_ctz(elsewhere));
    vmm_pt_lock(s);
    unsigned slot = vmm_attach(s);

    /* Walk the user half top-down, freeing leaves, then each table. */
    for (unsigned a = 0; a < 256; a++) {
        volatile uint64_t *l4e = (volatile uint64_t *)pg_pml4e_addr(slot, pg_make(a, 0, 0, 0, 0));
        if (!(*l4e & PTE_PRESENT))
            continue;
        for (unsigned b = 0; b < PG_ENTRIES; b++) {
            vaddr_t vb = pg_make(a, b, 0, 0, 0);
            volatile uint64_t *l3e = (volatile uint64_t *)pg_pdpte_addr(slot, vb);
            if (!(*l3e & PTE_PRESENT))
                continue;
            for (unsigned c = 0; c < PG_ENTRIES && !(*l3e & PTE_HUGE); c++) {
                vaddr_t vc = pg_make(a, b, c, 0, 0);
                volatile uint64_t *l2e = (volatile uint64_t *)pg_pde_addr(slot, vc);
                if (!(*l2e & PTE_PRESENT) || (*l2e & PTE_HUGE))
                    continue;
                volatile uint64_t *pt = (volatile uint64_t *)pg_pte_addr(slot, vc);
                for (unsigned d = 0; d < PG_ENTRIES; d++)
                    if (pt[d] & PTE_PRESENT)
                        free_user_frame(pt[d] & PTE_ADDR);
                pmm_free((void *)(*l2e & PTE_ADDR), 1);
            }
            if (!(*l3e & PTE_HUGE))
                pmm_free((void *)(*l3e & PTE_ADDR), 1);
        }
        pmm_free((void *)(*l4e & PTE_ADDR), 1);
    }
    vmm_detach(slot);
    pmm_free((void *)s->pml4, 1);
    s->pml4 = 0;
    space_desc_free(s);
    vmm_pt_unlock();
}

/* The batch's space for an edit of s at virt: the kernel half is every
 * CPU's, whatever s is. */
static struct vmm_space *edit_space(struct vmm_space *s, vaddr_t virt)
{
    return virt >= USER_LIMIT ? NULL : s ? s : vmm_live();
}

int vmm_space_map(struct vmm_space *s, vaddr_t virt, paddr_t phys, unsigned flags)
{
    vmm_pt_lock(edit_space(s, virt));
    unsigned slot = vmm_attach(s);
    int rc = vmm_map_in(slot, virt, phys, flags);
    vmm_detach(slot);
    vmm_pt_unlock();
    return rc;
}

/* Unmap and protect return after the shootdown (vmm_pt_unlock), so the
 * caller may free the frame or rely on the new flags at once. */
int vmm_space_unmap(struct vmm_space *s, vaddr_t virt, paddr_t *phys)
{
    struct vmm_batch *b = vmm_pt_lock(edit_space(s, virt));
    unsigned slot = vmm_attach(s);
    int rc = vmm_unmap_in(slot, virt, phys, b);
    vmm_detach(slot);
    vmm_pt_unlock();
    return rc;
}

int vmm_space_protect(struct vmm_space *s, vaddr_t virt, unsigned flags)
{
    struct vmm_batch *b = vmm_pt_lock(edit_space(s, virt));
    unsigned slot = vmm_attach(s);
    int rc = vmm_protect_in(slot, virt, flags, b);
    vmm_detach(slot);
    vmm_pt_unlock();
    return rc;
}

int vmm_space_translate(struct vmm_space *s, vaddr_t virt, paddr_t *phys, unsigned *flags)
{
    vmm_pt_lock(NULL);
    unsigned slot = vmm_attach(s);
    int rc = vmm_translate_in(slot, virt, phys, flags);
    vmm_detach(slot);
    vmm_pt_unlock();
    return rc;
}
