/*
 * In-kernel SMP tests of the user VM's fault races (prefix smp_): one user
 * address space live on every CPU at once (each CPU makes it its own CR3),
 * every CPU faulting the same pages through vm_fault, then writing its own
 * tag into each page through the user address. One frame per page must
 * come out of it, every tag must be in that one frame, the counters and
 * reference counts must be exact, and the PMM must get every frame back.
 *
 * Allocation: until the allocators are SMP-safe, these tests allocate on
 * several CPUs only inside vm_fault of one space, so the space's own lock
 * serialises every PMM call (and the temp-window use of frame zeroing and
 * copying); spaces are made and destroyed on the calling CPU alone.
 */
#include <arch/arch.h>
#include <arch/mmu.h>
#include <arch/user.h>
#include <pagoda/ktest.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/string.h>
#include <pagoda/vm.h>

#define RACE_BASE 0x10000000ULL
#define RACE_PAGES 24
#define RACE_MS 20000
#define TAG(cpu) ((uint8_t)(0xC0 + (cpu)))
#define TAG_OFF 16 /* byte TAG_OFF + cpu index of each page: that CPU's tag */
#define DATA_OFF 200 /* byte DATA_OFF of page i: i (the CoW test's parent) */

struct race {
    struct vm_as *as;
    unsigned ncpus;            /* the CPUs that take part */
    volatile unsigned arrived; /* CPUs with the space live */
    volatile unsigned done;    /* CPUs finished faulting and writing */
    volatile int errors;       /* faults or writes that failed */
    volatile int stuck;        /* a CPU gave up waiting for the others */
};

static uint64_t free_frames(void)
{
    struct pmm_stats st;
    pmm_get_stats(&st);
    return st.free_pages;
}

/* Spin until *v reaches n (every CPU there), or give up after RACE_MS of
 * the guest's clock (a count of spins would be minutes of host time under
 * Bochs, where a spin costs more and the clock runs fast). */
static bool gather(volatile unsigned *v, unsigned n, volatile int *stuck)
{
    uint64_t until = arch_clock_ms() + RACE_MS;
    while (__atomic_load_n(v, __ATOMIC_ACQUIRE) < n) {
        if (__atomic_load_n(stuck, __ATOMIC_ACQUIRE) || arch_clock_ms() > until) {
            __atomic_store_n(stuck, 1, __ATOMIC_RELEASE);
            return false;
        }
        __asm__ volatile("pause");
    }
    return true;
}

/* On every CPU: make the space live here, wait for all, fault every page
 * (all CPUs in the same order, so that they collide on each page; even
 * CPUs reading first when race_acc is a read), write this CPU's tag through the user address, and
 * wait for all again before leaving the space. */
static unsigned race_acc;

static void race_cpu(void *arg)
{
    struct race *r = arg;
    unsigned me = this_cpu()->index;
    bool irq = arch_irq_save();
    arch_user_activate(r->as->mmu);
    arch_irq_restore(irq);
    __atomic_fetch_add(&r->arrived, 1, __ATOMIC_ACQ_REL);
    if (gather(&r->arrived, r->ncpus, &r->stuck)) {
        for (unsigned n = 0; n < RACE_PAGES; n++) {
            vaddr_t va = RACE_BASE + n * PAGE_SIZE; /* all on the same page at once */
            unsigned acc = race_acc == VM_ACC_WRITE || (me & 1) ? VM_ACC_WRITE : VM_ACC_READ;
            if (vm_fault(r->as, va + me, acc) != 0)
                __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
            if (acc == VM_ACC_READ && vm_fault(r->as, va, VM_ACC_WRITE) != 0)
                __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
            uint8_t tag = TAG(me);
            if (arch_copy_user((void *)(va + TAG_OFF + me), &tag, 1) != 0)
                __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
        }
    }
    __atomic_fetch_add(&r->done, 1, __ATOMIC_ACQ_REL);
    gather(&r->done, r->ncpus, &r->stuck);
    irq = arch_irq_save();
    arch_user_activate(NULL);
    arch_irq_restore(irq);
}

/* Hold vm_fault's window open a while (a few ms under emulation): on a
 * loaded host the emulated CPUs seldom run at the same instant, and without
 * this the race might never happen. */
static void slow_window(void)
{
    for (volatile unsigned i = 0; i < 4000; i++)
        __asm__ volatile("pause");
}

/* Run race_cpu on every CPU with `as` and access `acc`: 0 when every CPU
 * took part and nothing failed. */
static int race_run(struct vm_as *as, unsigned acc)
{
    static struct race r;
    memset(&r, 0, sizeof(r));
    r.as = as;
    r.ncpus = smp_online();
    race_acc = acc;
    arch_clock_ms(); /* calibrated here, before the CPUs read it at once */
    vm_fault_window_hook = slow_window;
    int ran = smp_call_all(race_cpu, &r, RACE_MS);
    vm_fault_window_hook = NULL;
    if (ran != (int)r.ncpus || r.stuck) {
        printk("  (%d of %u CPUs ran the race%s)\n", ran, r.ncpus, r.stuck ? "; one gave up" : "");
        return -1;
    }
    return r.errors;
}

/* Page i of as is on a private frame (one reference, not the zero frame)
 * carrying every CPU's tag; its frame in *pa. */
static bool page_ok(struct vm_as *as, unsigned i, unsigned ncpus, paddr_t *pa)
{
    unsigned fl;
    if (arch_mmu_query(as->mmu, RACE_BASE + i * PAGE_SIZE, pa, &fl) != 0 || !(fl & MMU_WRITE) ||
        *pa == vm_zero_frame() || vm_frame_refs(*pa) != 1)
        return false;
    uint8_t tags[SMP_MAX_CPUS];
    arch_frame_read(*pa, TAG_OFF, tags, ncpus);
    for (unsigned c = 0; c < ncpus; c++)
        if (tags[c] != TAG(c))
            return false;
    return true;
}

static bool frames_distinct(const paddr_t *pa, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < i; k++)
            if (pa[i] == pa[k])
                return false;
    return true;
}

KTEST(smp_user_demand_fault_race)
{
    static struct vm_as as;
    static paddr_t pa[RACE_PAGES];
    uint64_t free0 = free_frames();
    unsigned n = smp_online();
    KT_ASSERT_EQ(vm_as_init(&as, 1000), 0);
    /* A zero-page region: even CPUs read first (the zero frame) and then
     * write, odd CPUs write at once (a demand frame); every page ends on one
     * private frame. */
    KT_ASSERT_EQ(vm_region_add(&as, RACE_BASE, RACE_BASE + RACE_PAGES * PAGE_SIZE, VM_R | VM_W,
                               VM_BACK_ZERO, VM_HEAP),
                 0);
    int err = race_run(&as, VM_ACC_READ);
    bool ok = true;
    for (unsigned i = 0; i < RACE_PAGES; i++)
        ok = ok && page_ok(&as, i, n, &pa[i]);
    uint64_t frames = as.frames, fresh = as.c.demand_faults + as.c.zero_breaks;
    vm_as_destroy(&as);
    KT_ASSERT_EQ(err, 0);
    KT_ASSERT(ok);
    KT_ASSERT(frames_distinct(pa, RACE_PAGES));
    KT_ASSERT_EQ(frames, RACE_PAGES);
    KT_ASSERT_EQ(fresh, RACE_PAGES); /* one frame per page: no loser spent one */
    KT_ASSERT_EQ(free_frames(), free0);
}

KTEST(smp_user_cow_fault_race)
{
    static struct vm_as a, b;
    static paddr_t pa[RACE_PAGES], pb[RACE_PAGES];
    uint64_t free0 = free_frames();
    unsigned n = smp_online();
    KT_ASSERT_EQ(vm_as_init(&a, 1000), 0);
    KT_ASSERT_EQ(vm_region_add(&a, RACE_BASE, RACE_BASE + RACE_PAGES * PAGE_SIZE, VM_R | VM_W,
                               VM_BACK_DEMAND, VM_MMAP),
                 0);
    int werr = 0;
    for (unsigned i = 0; i < RACE_PAGES; i++) {
        uint8_t v = (uint8_t)i;
        werr |= vm_write_page(&a, RACE_BASE + i * PAGE_SIZE + DATA_OFF, &v, 1);
    }
    int ferr = vm_as_init(&b, 1000);
    if (!ferr)
        ferr = vm_as_fork(&b, &a);
    /* Every CPU writes the child's shared pages: one copy each. Then every
     * CPU writes the parent's, now the only sharer: one take-over each. */
    int e1 = ferr || werr ? -1 : race_run(&b, VM_ACC_WRITE);
    int e2 = ferr || werr ? -1 : race_run(&a, VM_ACC_WRITE);
    bool ok = true;
    for (unsigned i = 0; i < RACE_PAGES && !ferr; i++) {
        uint8_t da = 0, db = 0;
        ok = ok && page_ok(&a, i, n, &pa[i]) && page_ok(&b, i, n, &pb[i]);
        if (ok) {
            arch_frame_read(pa[i], DATA_OFF, &da, 1);
            arch_frame_read(pb[i], DATA_OFF, &db, 1);
        }
        ok = ok && da == (uint8_t)i && db == (uint8_t)i;
    }
    struct vm_counters ca = a.c, cb = b.c;
    uint64_t fa = a.frames, fb = b.frames;
    vm_as_destroy(&b);
    vm_as_destroy(&a);
    KT_ASSERT_EQ(werr, 0);
    KT_ASSERT_EQ(ferr, 0);
    KT_ASSERT_EQ(e1, 0);
    KT_ASSERT_EQ(e2, 0);
    KT_ASSERT(ok);
    KT_ASSERT(frames_distinct(pa, RACE_PAGES) && frames_distinct(pb, RACE_PAGES));
    for (unsigned i = 0; i < RACE_PAGES; i++)
        KT_ASSERT(pa[i] != pb[i]);
    KT_ASSERT_EQ(cb.cow_copies, RACE_PAGES); /* one copy per page, not one per CPU */
    KT_ASSERT_EQ(cb.cow_takeovers, 0);
    KT_ASSERT_EQ(ca.cow_takeovers, RACE_PAGES);
    KT_ASSERT_EQ(ca.cow_copies, 0);
    KT_ASSERT_EQ(fa, RACE_PAGES);
    KT_ASSERT_EQ(fb, RACE_PAGES);
    KT_ASSERT_EQ(free_frames(), free0);
}
