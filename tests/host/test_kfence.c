/*
 * Host tests of the sampled guard pages' policy (src/mm/kfence.c) through
 * the real kmalloc/kfree hooks. The page source is host memory: the pool is
 * an mmap'ed PROT_NONE region and a slot is made present with mprotect, so
 * a stray access really faults; a SIGSEGV handler hands the address to
 * kfence_fault, as the kernel's page-fault handler does, and jumps back.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/errno.h>
#include <pagoda/kfence.h>
#include <pagoda/kmalloc.h>

static int host_set_present(struct kfence_source *src, uintptr_t page, bool present)
{
    return mprotect((void *)page, PAGE_SIZE, present ? PROT_READ | PROT_WRITE : PROT_NONE);
}

static uintptr_t fake_pc = 0x1000;
static unsigned host_stack(uintptr_t *pcs, unsigned max)
{
    /* Recognisable fake return addresses: the tests check they are kept. */
    for (unsigned i = 0; i < 3 && i < max; i++)
        pcs[i] = fake_pc + i;
    return 3;
}

static struct kfence_source src = {.set_present = host_set_present, .stack = host_stack};
static uint8_t heap_mem[1 << 20] __attribute__((aligned(4096)));
static struct heap_region region;

static void setup(uint64_t interval)
{
    if (!src.base) {
        void *pool = mmap(NULL, KFENCE_POOL_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        src.base = (uintptr_t)pool;
    }
    heap_region_init(&region, heap_mem, sizeof(heap_mem));
    kheap_init(&region.src, 0);
    kfence_init(&src, interval, 42);
}

static struct kfence_stats stats(void)
{
    struct kfence_stats st;
    kfence_get_stats(&st);
    return st;
}

static uint8_t *sample(size_t size)
{
    kfence_force_next();
    return kmalloc(size);
}

/* ---- real faults */
static sigjmp_buf fault_jmp;
static volatile uintptr_t fault_addr;
static volatile bool fault_claimed;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    fault_addr = (uintptr_t)si->si_addr;
    fault_claimed = kfence_fault(fault_addr, true, 0xdead);
    siglongjmp(fault_jmp, 1);
}

/* Write one byte at p; true if it faulted and kfence claimed the fault. */
static bool write_faults(volatile uint8_t *p)
{
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, &old);
    fault_claimed = false;
    fault_addr = 0;
    bool faulted = false;
    if (sigsetjmp(fault_jmp, 1) == 0)
        *p = 1;
    else
        faulted = true;
    sigaction(SIGSEGV, &old, NULL);
    return faulted && fault_claimed && fault_addr == (uintptr_t)p;
}

HTEST(kfence_off_without_a_source)
{
    kfence_init(NULL, 1, 1);
    heap_region_init(&region, heap_mem, sizeof(heap_mem));
    kheap_init(&region.src, 1);
    kfence_force_next();
    void *p = kmalloc(16);
    CHECK(p != NULL && !kfence_owns(p));
    kfree(p);
    CHECK(!kfence_fault((uintptr_t)p, true, 0));
    CHECK_EQ(kfence_interval(), 0);
}

/* The countdowns live in the heap's per-CPU fronts: a heap set up after
 * kfence (a new kheap_init) must keep them, or sampling stops unseen. */
HTEST(kfence_sampling_survives_a_new_heap)
{
    setup(1); /* every allocation */
    heap_region_init(&region, heap_mem, sizeof(heap_mem));
    kheap_init(&region.src, 0);
    void *p = kmalloc(48);
    CHECK(kfence_owns(p));
    kfree(p);
    kfence_set_interval(0);
    CHECK_EQ(stats().live, 0);
}

HTEST(kfence_layout_against_the_guard_page)
{
    setup(1000);
    for (size_t size = 0; size <= PAGE_SIZE; size += size < 64 ? 1 : 509) {
        uint8_t *p = sample(size);
        CHECK(kfence_owns(p));
        CHECK(((uintptr_t)p & 15) == 0);
        CHECK(IS_ALIGNED((uintptr_t)p + ALIGN_UP(MAX(size, (size_t)1), 16), PAGE_SIZE));
        CHECK_EQ(kmalloc_usable_size(p), size);
        memset(p, 0xee, size);
        CHECK_EQ(kfence_check(), 0);
        kfree(p);
    }
    CHECK_EQ(stats().live, 0);
    CHECK_EQ(stats().bugs, 0);
    /* Over a page: the heap serves it. */
    uint8_t *big = sample(PAGE_SIZE + 1);
    CHECK(big && !kfence_owns(big));
    kfree(big);
    CHECK_EQ(stats().too_big, 1);
}

HTEST(kfence_overflow_and_use_after_free_fault)
{
    setup(1000);
    uint8_t *p = sample(32);
    CHECK(write_faults(p + 32)); /* one past the end: the guard page */
    CHECK_EQ(stats().bugs, 1);
    CHECK(!write_faults(p + 31) || false); /* inside: no fault */
    kfree(p);
    CHECK(write_faults(p)); /* after free: the page is gone */
    CHECK_EQ(stats().bugs, 2);
    /* Addresses outside the pool are not kfence's. */
    CHECK(!kfence_fault(src.base - 1, false, 0));
    CHECK(!kfence_fault(src.base + KFENCE_POOL_BYTES, false, 0));
    CHECK(kfence_fault(src.base, false, 0)); /* the first guard page */
}

HTEST(kfence_double_and_invalid_free_panic)
{
    setup(1000);
    uint8_t *p = sample(24);
    CHECK(EXPECT_PANIC(kfree(p + 8)));
    CHECK(strstr(htest_panic_msg, "invalid free") != NULL);
    CHECK(EXPECT_PANIC(kfree(p - PAGE_SIZE))); /* a guard page */
    CHECK(strstr(htest_panic_msg, "invalid free") != NULL);
    CHECK(EXPECT_PANIC(kmalloc_usable_size(p + 16)));
    kfree(p);
    CHECK(EXPECT_PANIC(kfree(p)));
    CHECK(strstr(htest_panic_msg, "double free") != NULL);
    CHECK(EXPECT_PANIC(krealloc(p, 10)));
    uint8_t *never = (uint8_t *)src.base + 7 * PAGE_SIZE + 64; /* a slot never used */
    CHECK(EXPECT_PANIC(kfree(never)));
    CHECK(strstr(htest_panic_msg, "no sampled object") != NULL);
    CHECK_EQ(stats().bugs, 6);
    CHECK_EQ(stats().live, 0);
}

HTEST(kfence_canary_damage_found_on_free_and_by_check)
{
    setup(1000);
    uint8_t *p = sample(20);
    uint8_t saved = p[23];
    p[23] = (uint8_t)~saved; /* in the alignment gap: no fault */
    CHECK_EQ(kfence_check(), -E_CORRUPT);
    CHECK(EXPECT_PANIC(kfree(p)));
    CHECK(strstr(htest_panic_msg, "out-of-bounds write") != NULL);
    p[23] = saved;
    uint8_t s2 = p[-100];
    p[-100] = (uint8_t)~s2; /* an underflow into the canary bytes */
    CHECK(EXPECT_PANIC(kfree(p)));
    p[-100] = s2;
    kfree(p);
    CHECK_EQ(stats().live, 0);
}

HTEST(kfence_stacks_are_kept)
{
    setup(1000);
    fake_pc = 0x5000;
    uint8_t *p = sample(8);
    fake_pc = 0x6000;
    kfree(p);
    fake_pc = 0x1000;
    /* The report prints both; here the fault path must find the slot. */
    CHECK(kfence_fault((uintptr_t)p, false, 0));
    CHECK_EQ(stats().bugs, 1);
}

HTEST(kfence_realloc_moves_and_frees)
{
    setup(1000);
    uint8_t *p = sample(50);
    for (int i = 0; i < 50; i++)
        p[i] = (uint8_t)i;
    uint8_t *q = krealloc(p, 5000);
    CHECK(q && !kfence_owns(q));
    for (int i = 0; i < 50; i++)
        CHECK_EQ(q[i], i);
    CHECK(write_faults(p)); /* the old slot is unmapped */
    kfree(q);
    p = sample(10);
    CHECK(krealloc(p, 0) == NULL);
    CHECK_EQ(stats().live, 0);
    CHECK_EQ(stats().frees, 2);
}

HTEST(kfence_rate_and_full_pool)
{
    setup(20);
    unsigned hits = 0;
    for (int i = 0; i < 20000; i++) {
        void *p = kmalloc(1 + (size_t)(i % 300));
        hits += kfence_owns(p);
        kfree(p);
    }
    CHECK(hits >= 800 && hits <= 1200); /* about 1 in 20 */
    kfence_set_interval(1);
    void *p[KFENCE_SLOTS + 10];
    unsigned owned = 0;
    for (int i = 0; i < KFENCE_SLOTS + 10; i++) {
        p[i] = kmalloc(64);
        CHECK(p[i] != NULL);
        owned += kfence_owns(p[i]);
    }
    CHECK_EQ(owned, KFENCE_SLOTS);
    CHECK_EQ(stats().pool_full, 10);
    /* Freed slots are reused oldest first: the last freed stays unmapped. */
    kfree(p[0]);
    kfree(p[1]);
    void *again = kmalloc(64);
    CHECK(again == p[0]);
    kfree(again);
    for (int i = 2; i < KFENCE_SLOTS + 10; i++)
        kfree(p[i]);
    kfence_set_interval(0);
    CHECK_EQ(stats().live, 0);
    void *off = kmalloc(64);
    CHECK(!kfence_owns(off));
    kfree(off);
}

HTEST(kfence_counts_in_heap_stats)
{
    setup(1000);
    heap_region_init(&region, heap_mem, sizeof(heap_mem));
    kheap_init(&region.src, 1);
    struct kheap_stats h0, h1;
    kheap_stats(&h0);
    uint8_t *p = sample(77);
    kheap_stats(&h1);
    CHECK_EQ(h1.live_bytes, h0.live_bytes + 77);
    CHECK_EQ(h1.live_objects, h0.live_objects + 1);
    CHECK_EQ(kheap_check(), 0);
    p[78] = (uint8_t)~p[78];
    CHECK_EQ(kheap_check(), -E_CORRUPT);
    p[78] = (uint8_t)~p[78];
    kfree(p);
    kheap_stats(&h1);
    CHECK_EQ(h1.live_bytes, h0.live_bytes);
}
