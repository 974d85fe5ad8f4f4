/* Fault races in one user address space (src/mm/vm_fault.c) under
 * ThreadSanitizer: threads stand in for CPUs (src/lib/cpu_host.c) and fault
 * the same pages at once through the fake MMU. Whatever the interleaving,
 * each page must end on exactly one frame, with exact reference counts,
 * counters and frame totals, and nothing may leak after teardown. */
#include <pthread.h>

#include <pagoda/errno.h>
#include <pagoda/vm.h>

#include "fake_mmu.h"
#include "harness.h"

#define NT 4
#define NPAGES 32
#define H 0x10000000ull
#define PG 4096ull
#define ROUNDS 4

struct job {
    struct vm_as *as;
    unsigned acc[NT];  /* the access each thread makes */
    int errors;        /* faults that did not return 0 */
    pthread_barrier_t go;
};

struct arg {
    struct job *j;
    unsigned t;
};

/* Every thread faults every page, starting at a different page, so that
 * the threads collide on pages in every order. Then it writes its tag in
 * its own byte of each page, through whatever frame the page has now. */
static void *faulter(void *v)
{
    struct arg *a = v;
    struct job *j = a->j;
    pthread_barrier_wait(&j->go);
    for (unsigned n = 0; n < NPAGES; n++) {
        vaddr_t va = H + ((n + a->t * 7) % NPAGES) * PG + a->t;
        if (vm_fault(j->as, va, j->acc[a->t]) != 0)
            __atomic_fetch_add(&j->errors, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void run_threads(struct job *j)
{
    pthread_t th[NT];
    struct arg args[NT];
    pthread_barrier_init(&j->go, NULL, NT);
    for (unsigned t = 0; t < NT; t++) {
        args[t] = (struct arg){j, t};
        pthread_create(&th[t], NULL, faulter, &args[t]);
    }
    for (unsigned t = 0; t < NT; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&j->go);
}

/* Each page of [H, H + NPAGES pages) of as is on its own frame, writable,
 * with one reference; returns how many are (NPAGES when all are). */
static int private_pages(struct vm_as *as)
{
    int ok = 0;
    paddr_t seen[NPAGES];
    for (unsigned i = 0; i < NPAGES; i++) {
        paddr_t pa;
        unsigned fl;
        seen[i] = 0;
        if (arch_mmu_query(as->mmu, H + i * PG, &pa, &fl) != 0 || !(fl & MMU_WRITE) ||
            pa == vm_zero_frame() || vm_frame_refs(pa) != 1)
            continue;
        bool dup = false;
        for (unsigned k = 0; k < i; k++)
            dup |= seen[k] == pa;
        seen[i] = pa;
        ok += !dup;
    }
    return ok;
}

HTEST(mt_vm_demand_race_one_frame_per_page)
{
    for (int round = 0; round < ROUNDS; round++) {
        fake_vm_reset();
        struct vm_as as;
        CHECK_EQ(vm_as_init(&as, 1000), 0);
        CHECK_EQ(vm_region_add(&as, H, H + NPAGES * PG, VM_R | VM_W, VM_BACK_DEMAND, VM_MMAP), 0);
        struct job j = {.as = &as};
        for (unsigned t = 0; t < NT; t++)
            j.acc[t] = t & 1 ? VM_ACC_WRITE : VM_ACC_READ;
        run_threads(&j);
        CHECK_EQ(j.errors, 0);
        CHECK_EQ(private_pages(&as), NPAGES);
        CHECK_EQ(as.frames, NPAGES);
        CHECK_EQ(as.c.demand_faults, NPAGES); /* the losers spent nothing */
        CHECK_EQ(fake_frames_used(), 1 + NPAGES);
        vm_as_destroy(&as);
        CHECK_EQ(fake_frames_used(), 1);
    }
}

HTEST(mt_vm_zero_page_race_reads_and_writes)
{
    /* Readers map the zero frame, writers break it: every page ends on one
     * private frame either way (demand fault, or zero map then break). */
    for (int round = 0; round < ROUNDS; round++) {
        fake_vm_reset();
        struct vm_as as;
        CHECK_EQ(vm_as_init(&as, 1000), 0);
        CHECK_EQ(vm_region_add(&as, H, H + NPAGES * PG, VM_R | VM_W, VM_BACK_ZERO, VM_HEAP), 0);
        struct job j = {.as = &as};
        for (unsigned t = 0; t < NT; t++)
            j.acc[t] = t & 1 ? VM_ACC_WRITE : VM_ACC_READ;
        run_threads(&j);
        CHECK_EQ(j.errors, 0);
        CHECK_EQ(private_pages(&as), NPAGES);
        CHECK_EQ(as.frames, NPAGES);
        CHECK_EQ(as.c.demand_faults + as.c.zero_breaks, NPAGES);
        CHECK(as.c.zero_breaks <= as.c.zero_maps);
        CHECK_EQ(fake_frames_used(), 1 + NPAGES);
        for (unsigned i = 0; i < NPAGES; i++)
            CHECK_EQ(fake_peek(&as, H + i * PG + 100), 0); /* still zero-filled */
        vm_as_destroy(&as);
        CHECK_EQ(fake_frames_used(), 1);
    }
}

/* A parent with NPAGES written pages (byte 200 of page i holds i) and its
 * fork child. */
static bool forked_pair(struct vm_as *p, struct vm_as *c)
{
    if (vm_as_init(p, 1000) || vm_as_init(c, 1000) ||
        vm_region_add(p, H, H + NPAGES * PG, VM_R | VM_W, VM_BACK_DEMAND, VM_MMAP))
        return false;
    for (unsigned i = 0; i < NPAGES; i++) {
        uint8_t b = (uint8_t)i;
        if (vm_write_page(p, H + i * PG + 200, &b, 1))
            return false;
    }
    return vm_as_fork(c, p) == 0;
}

HTEST(mt_vm_cow_race_in_one_space_copies_once)
{
    for (int round = 0; round < ROUNDS; round++) {
        fake_vm_reset();
        struct vm_as p, c;
        CHECK(forked_pair(&p, &c));
        CHECK_EQ(fake_frames_used(), 1 + NPAGES);
        struct job j = {.as = &c};
        for (unsigned t = 0; t < NT; t++)
            j.acc[t] = VM_ACC_WRITE;
        run_threads(&j);
        CHECK_EQ(j.errors, 0);
        CHECK_EQ(c.c.cow_copies, NPAGES); /* one copy per page, not one per thread */
        CHECK_EQ(c.c.cow_takeovers, 0);
        CHECK_EQ(private_pages(&c), NPAGES);
        CHECK_EQ(fake_frames_used(), 1 + 2 * NPAGES);
        for (unsigned i = 0; i < NPAGES; i++) {
            paddr_t pa;
            unsigned fl;
            CHECK_EQ(arch_mmu_query(p.mmu, H + i * PG, &pa, &fl), 0);
            CHECK_EQ(vm_frame_refs(pa), 1); /* the parent's alone now */
            CHECK_EQ(fake_peek(&c, H + i * PG + 200), (uint8_t)i);
        }
        vm_as_destroy(&c);
        vm_as_destroy(&p);
        CHECK_EQ(fake_frames_used(), 1);
    }
}

/* Parent and child written at once, each by two threads: under two locks,
 * both may copy a page, or one copies and the other takes over. Either way
 * two frames per page in the end, each with one reference, nothing lost. */
static struct vm_as *pair[2];

static void *both_writer(void *v)
{
    struct arg *a = v;
    struct job *j = a->j;
    struct vm_as *as = pair[a->t & 1];
    pthread_barrier_wait(&j->go);
    for (unsigned n = 0; n < NPAGES; n++)
        if (vm_fault(as, H + ((n + a->t * 5) % NPAGES) * PG, VM_ACC_WRITE) != 0)
            __atomic_fetch_add(&j->errors, 1, __ATOMIC_RELAXED);
    return NULL;
}

HTEST(mt_vm_cow_race_across_parent_and_child)
{
    for (int round = 0; round < ROUNDS; round++) {
        fake_vm_reset();
        struct vm_as p, c;
        CHECK(forked_pair(&p, &c));
        pair[0] = &p;
        pair[1] = &c;
        struct job j = {0};
        pthread_t th[NT];
        struct arg args[NT];
        pthread_barrier_init(&j.go, NULL, NT);
        for (unsigned t = 0; t < NT; t++) {
            args[t] = (struct arg){&j, t};
            pthread_create(&th[t], NULL, both_writer, &args[t]);
        }
        for (unsigned t = 0; t < NT; t++)
            pthread_join(th[t], NULL);
        pthread_barrier_destroy(&j.go);
        CHECK_EQ(j.errors, 0);
        CHECK_EQ(private_pages(&p), NPAGES);
        CHECK_EQ(private_pages(&c), NPAGES);
        uint64_t breaks = p.c.cow_copies + p.c.cow_takeovers + c.c.cow_copies + c.c.cow_takeovers;
        CHECK_EQ(breaks, 2 * NPAGES); /* one break per page per space */
        CHECK_EQ(fake_frames_used(), 1 + 2 * NPAGES);
        for (unsigned i = 0; i < NPAGES; i++) {
            CHECK_EQ(fake_peek(&p, H + i * PG + 200), (uint8_t)i);
            CHECK_EQ(fake_peek(&c, H + i * PG + 200), (uint8_t)i);
        }
        vm_as_destroy(&c);
        vm_as_destroy(&p);
        CHECK_EQ(fake_frames_used(), 1);
    }
}
