/*
 * Kernel virtual ranges (vmm_alloc / vmm_free), demand paging, and the
 * page-fault report.
 *
 * Theory of operation. The KVA region [KVA_BASE, KVA_LIMIT) is a vrange set
 * (src/mm/vrange.c): first fit, one unmapped guard page on each side of
 * every range.
 * vmm_alloc either backs every page at once with zeroed frames (immediate)
 * or, with VMM_DEMAND, only records the range: the first touch of a page
 * faults, and the #PF handler maps a zeroed frame with the range's flags
 * and lets the instruction run again. vmm_free unmaps what is mapped, gives
 * each frame back to the PMM, then forgets the range.
 *
 * Any other page fault is fatal, through trap.c's one fatal path (registers,
 * backtrace, emulator exit). Our line before it names what happened (NULL
 * dereference, write to a read-only page, fetch from an NX page, access to an
 * unmapped page), the decoded error code, CR2 and the region of the layout
 * CR2 is in; a fault in a stack guard page trap.c itself reports as a kernel
 * stack overflow.
 *
 * Locking (SMP). The range set and its descriptors are under kva_lock
 * (LOCK_LEVEL_KVA, plain spin_lock; the slab cache and the page-table lock
 * are inner). A demand fault holds it from the lookup to the map, and first
 * asks whether the page is mapped already: when two CPUs fault on the same
 * page at once, the second finds the first's frame, takes none, and simply
 * retries the access (vmm_demand_races counts those). A mapping that
 * appears anyway (a direct vmm_map racing the fault) makes vmm_map fail with
 * -E_EXIST, and the fault frees its frame and retries too. vmm_free marks
 * the range dying under the lock, so no demand fault can map into it while
 * its pages are unmapped (batched: one shootdown per batch, frames freed
 * after it, vmm_lock.c) outside the lock; only then is the range forgotten,
 * so its addresses cannot be handed out while another CPU may still cache
 * them. A fault in a dying range is reported like any fault outside a range.
 *
 * Cost: alloc/free are O(ranges) plus one map or unmap per page; a demand
 * fault is one range lookup, one frame and one map.
 *
 * Weaknesses: descriptors come from a fixed pool of KVA_DESCS until the heap
 * is up, then from the vmm_range slab cache; a demand fault with no free
 * frame panics; demand faults serialise on kva_lock.
 */
#include <arch/arch.h>
#include <pagoda/errno.h>
#include <pagoda/kfence.h>
#include <pagoda/kmalloc.h>
#include <pagoda/memlayout.h>
#include <pagoda/percpu.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/slab.h>
#include <pagoda/spinlock.h>
#include <pagoda/vrange.h>

#include "cpu.h"
#include "vmm_internal.h"
#include "x86.h"

#define KVA_DESCS 256
/* A range being freed (in vrange flags, beside the VMM_* bits). */
#define KVA_DYING (1u << 31)

static spinlock_t kva_lock = SPINLOCK_INIT("vmm_kva", LOCK_LEVEL_KVA);
volatile uint64_t vmm_demand_faults, vmm_demand_races;

static struct vrange desc_pool[KVA_DESCS];
static struct vrange *desc_free_list;
static bool desc_ready;

static struct kmem_cache *desc_cache;

/* The descriptor allocator: a fixed pool, threaded on first use, until the
 * heap is up; from then on the vmm_range slab cache. Descriptors
 * from the pool go back to it. */

static struct vrange *kva_desc_alloc(void)
{
    if (!desc_cache && kheap_ready())
        desc_cache = kmem_cache_create("vmm_range", sizeof(struct vrange), 0, NULL, NULL);
    if (desc_cache)
        return kmem_cache_alloc(desc_cache);
    if (!desc_ready) {
        for (int i = 0; i < KVA_DESCS; i++) {
            desc_pool[i].next = desc_free_list;
            desc_free_list = &desc_pool[i];
        }
        desc_ready = true;
    }
    struct vrange *r = desc_free_list;
    if (r)
        desc_free_list = r->next;
    return r;
}

static void kva_desc_free(struct vrange *r)
{
    if (r < desc_pool || r >= desc_pool + KVA_DESCS) {
        kmem_cache_free(desc_cache, r);
        return;
    }
    r->next = desc_free_list;
    desc_free_list = r;
}

/* The region starts one page in, so that every range, the first included,
 * has an unmapped page below it as well as its gap above: a stack made
 * with vmm_alloc gets its guard page for free. */
static struct vrange_set kva = {
    .base = KVA_BASE + PAGE_SIZE,
    .limit = KVA_LIMIT,
    .gap_pages = 1,
    .desc_alloc = kva_desc_alloc,
    .desc_free = kva_desc_free,
};

bool vmm_kva_held(void) { return spin_held(&kva_lock); }

void vmm_kva_abandon(void)
{
    if (vmm_kva_held())
        spin_unlock(&kva_lock);
}

void vmm_kva_lock_test(bool take)
{
    if (take)
        spin_lock(&kva_lock);
    else
        spin_unlock(&kva_lock);
}

unsigned vmm_kva_waiters(void)
{
    uint32_t queued = __atomic_load_n(&kva_lock.next, __ATOMIC_ACQUIRE) -
                      __atomic_load_n(&kva_lock.owner, __ATOMIC_ACQUIRE);
    return queued ? queued - 1 : 0;
}

size_t vmm_kva_ranges(void)
{
    size_t n = 0;
    spin_lock(&kva_lock);
    for (const struct vrange *r = kva.head; r; r = r->next)
        n++;
    spin_unlock(&kva_lock);
    return n;
}

/* Forget range r (dying, its pages unmapped). */
static void forget(vaddr_t base)
{
    spin_lock(&kva_lock);
    vrange_free(&kva, base);
    spin_unlock(&kva_lock);
}

void *vmm_alloc(size_t size, unsigned flags)
{
    if (size == 0 || size > KVA_LIMIT - KVA_BASE)
        return NULL;
    size_t pages = ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE;
    flags &= ~KVA_DYING;
    spin_lock(&kva_lock);
    struct vrange *r = vrange_alloc(&kva, pages, flags);
    vaddr_t base = r ? r->base : 0;
    spin_unlock(&kva_lock);
    if (!r)
        return NULL;
    /* Nobody else knows base yet: the range is ours to fill unlocked. */
    if (!(flags & VMM_DEMAND)) {
        for (size_t i = 0; i < pages; i++) {
            void *f = pmm_allocz(1);
            if (!f || vmm_map(base + i * PAGE_SIZE, (paddr_t)f, flags) != 0) {
                if (f)
                    pmm_free(f, 1);
                vmm_unmap_release(base, i, true);
                forget(base);
                return NULL;
            }
        }
    }
    return (void *)base;
}

void vmm_free(void *va)
{
    spin_lock(&kva_lock);
    struct vrange *r = vrange_find(&kva, (vaddr_t)va);
    if (!r || r->base != (vaddr_t)va || (r->flags & KVA_DYING)) {
        spin_unlock(&kva_lock);
        panic("vmm_free: %p is not the start of a vmm_alloc range", va);
    }
    r->flags |= KVA_DYING; /* no demand fault maps into it from now on */
    vaddr_t base = r->base;
    size_t pages = r->pages;
    spin_unlock(&kva_lock);
    vmm_unmap_release(base, pages, true);
    forget(base);
}

/* First touch of a demand page: back it and retry. False if va is not in a
 * live demand range (or the frame cannot be had, which the report then
 * names). */
static bool demand_fault(vaddr_t va)
{
    vaddr_t page = ALIGN_DOWN(va, PAGE_SIZE);
    spin_lock(&kva_lock);
    struct vrange *r = vrange_find(&kva, va);
    if (!r || !(r->flags & VMM_DEMAND) || (r->flags & KVA_DYING)) {
        spin_unlock(&kva_lock);
        return false;
    }
    if (vmm_translate(page, NULL, NULL) == 0) { /* another CPU won: retry */
        __atomic_fetch_add(&vmm_demand_races, 1, __ATOMIC_RELAXED);
        spin_unlock(&kva_lock);
        return true;
    }
    void *f = pmm_allocz(1);
    if (!f) {
        spin_unlock(&kva_lock);
        panic("demand paging: no free frame for 0x%llx", (unsigned long long)va);
    }
    int rc = vmm_map(page, (paddr_t)f, r->flags & ~(VMM_DEMAND | KVA_DYING));
    if (rc)
        pmm_free(f, 1);
    if (rc == -E_EXIST)
        __atomic_fetch_add(&vmm_demand_races, 1, __ATOMIC_RELAXED);
    else if (rc == 0)
        __atomic_fetch_add(&vmm_demand_faults, 1, __ATOMIC_RELAXED);
    spin_unlock(&kva_lock);
    return rc == 0 || rc == -E_EXIST; /* mapped by us or by someone: retry */
}

extern const uint8_t __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern const uint8_t __data_start[], __data_end[];

void vmm_describe(vaddr_t va, char *buf, size_t size)
{
    const char *name = "unmapped kernel space";
    if (va < PAGE_SIZE)
        name = "page 0 (never mapped, so NULL faults)";
    else if (va < USER_LIMIT)
        name = "the user half";
    else if (!pg_is_canonical(va))
        name = "the non-canonical hole";
    else if (kstack_guard_hit(va)) {
        ksnprintf(buf, size, "the guard page of kernel stack %s", kstack_guard_hit(va));
        return;
    } else if (va >= (vaddr_t)__text_start && va < (vaddr_t)__text_end)
        name = "kernel .text (read+execute)";
    else if (va >= (vaddr_t)__rodata_start && va < (vaddr_t)__rodata_end)
        name = "kernel .rodata (read-only, no-execute)";
    else if (va >= (vaddr_t)__data_start && va < (vaddr_t)__data_end)
        name = "kernel .data/.bss (read-write, no-execute)";
    else if (va >= TEMP_MAP_BASE)
        name = "the temp-map window";
    else if (va >= KERNEL_VMA)
        name = "the kernel window outside the image";
    else if (pg_l4(va) == RECURSIVE_SLOT)
        name = "the recursive page-table window";
    else if (pg_l4(va) == FOREIGN_SLOT)
        name = "the foreign page-table window";
    else if (va >= KVA_BASE && va < KVA_LIMIT) {
        /* A fault report: never wait long for the lock (its holder may be
         * the CPU that faulted, or stopped), and never take it where the
         * lock checks would object (this CPU holds it or an inner lock):
         * read without it then. */
        bool locked = false;
        for (unsigned i = 0; this_cpu()->nlocks == 0 && !locked && i < 100000; i++)
            locked = spin_trylock(&kva_lock);
        struct vrange *r = vrange_find(&kva, va), *b = vrange_below(&kva, va);
        if (r)
            ksnprintf(buf, size, "kernel range 0x%llx+%zu pages (%s%s)",
                      (unsigned long long)r->base, r->pages,
                      r->flags & VMM_DEMAND ? "demand" : "immediate",
                      r->flags & KVA_DYING ? ", being freed" : "");
        else if (b)
            ksnprintf(buf, size,
                      "the kernel-range region, outside every range "
                      "(past the end of 0x%llx+%zu pages)",
                      (unsigned long long)b->base, b->pages);
        else
            ksnprintf(buf, size, "the kernel-range region, outside every range");
        if (locked)
            spin_unlock(&kva_lock);
        return;
    } else if (va >= KHEAP_BASE && va < KHEAP_LIMIT)
        name = "the kernel heap region";
    else if (va >= PMM_BITMAP_BASE && va < KHEAP_BASE)
        name = "the PMM bitmap window";
    ksnprintf(buf, size, "%s", name);
}

static const char *what_happened(vaddr_t va, uint64_t err)
{
    if (va < PAGE_SIZE)
        return "NULL pointer dereference";
    if ((err & 1) && (err & 16))
        return "instruction fetch from a no-execute page";
    if ((err & 1) && (err & 2))
        return "write to a read-only page";
    if ((err & 1) && (err & 4))
        return "user access to a supervisor page";
    if (err & 8)
        return "reserved bit set in a page-table entry";
    return "access to an unmapped page";
}

static bool vmm_page_fault(struct trap_frame *f)
{
    vaddr_t va = read_cr2();
    /* A sampled object's guard or freed page: kfence reports the bug (kind,
     * object, stacks) and the fatal path that follows adds the registers. */
    if (kfence_fault(va, f->error & 2, f->rip))
        return false;
    bool not_present = !(f->error & 1), supervisor = !(f->error & 4);
    if (not_present && supervisor && va >= KVA_BASE && va < KVA_LIMIT && demand_fault(va))
        return true;
    if (kstack_guard_hit(va))
        return false; /* trap.c reports it as a kernel stack overflow */

    /* Fatal: name what happened and where, then let trap.c's fatal path
     * dump the registers and backtrace (and leave the emulator in test and
     * fault modes), so that there is one report, not two. */
    char why[96], region[128];
    trap_decode_pf(f->error, why, sizeof(why));
    vmm_describe(va, region, sizeof(region));
    printk("\n*** page fault: %s at 0x%016llx in %s\n    (error 0x%llx: %s)\n",
           what_happened(va, f->error), (unsigned long long)va, region,
           (unsigned long long)f->error, why);
    return false;
}

void vmm_fault_init(void)
{
    trap_set_handler(14, vmm_page_fault);
}
