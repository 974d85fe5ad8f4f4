/*
 * A fake MMU for the host tests of the user VM (src/mm/vm_*.c): the
 * <arch/mmu.h> contract over a table of (va -> frame, flags) per space and
 * a pool of real 4 KiB buffers standing in for frames. Include it in one
 * test file per binary. fake_frames_used() is the leak check; setting
 * fake_frame_budget makes arch_frame_alloc fail like an empty PMM.
 *
 * Threads (tests/host/mt_vm.c): the frame pool is shared by every space, so
 * a small lock guards it; a space's table is guarded by the VM's own space
 * lock (the VM holds it around every MMU call on that space), and spaces
 * are created and destroyed by one thread.
 */
#ifndef PAGODA_FAKE_MMU_H
#define PAGODA_FAKE_MMU_H

#include <arch/mmu.h>
#include <pagoda/errno.h>
#include <pagoda/vm.h>
#include <string.h>

#include "harness.h"

#define FAKE_FRAMES 512
#define FAKE_PAGES 2048
#define FAKE_SPACES 8

struct fake_pte {
    vaddr_t va;
    paddr_t pa;
    unsigned flags;
    bool used;
};
struct vmm_space {
    bool live;
    struct fake_pte e[FAKE_PAGES];
};

static struct vmm_space fake_spaces[FAKE_SPACES];
static uint8_t fake_mem[FAKE_FRAMES][4096];
static bool fake_frame_used[FAKE_FRAMES];
static long fake_frame_budget = -1; /* -1: no limit */
static uint16_t fake_refs[FAKE_FRAMES + 2];
static volatile char fake_pool_lock; /* the frame pool and the budget */

static void fake_pool_take(void)
{
    while (__atomic_test_and_set(&fake_pool_lock, __ATOMIC_ACQUIRE))
        ;
}
static void fake_pool_give(void)
{
    __atomic_clear(&fake_pool_lock, __ATOMIC_RELEASE);
}

static paddr_t fake_pa(int i)
{
    return (paddr_t)(i + 1) * 4096;
}
static int fake_idx(paddr_t pa)
{
    return (int)(pa / 4096) - 1;
}
static uint8_t *fake_frame(paddr_t pa)
{
    return fake_mem[fake_idx(pa)];
}

static int fake_frames_used(void)
{
    int n = 0;
    fake_pool_take();
    for (int i = 0; i < FAKE_FRAMES; i++)
        n += fake_frame_used[i];
    fake_pool_give();
    return n;
}

struct vmm_space *arch_mmu_create(void)
{
    for (int i = 0; i < FAKE_SPACES; i++)
        if (!fake_spaces[i].live) {
            memset(&fake_spaces[i], 0, sizeof(fake_spaces[i]));
            fake_spaces[i].live = true;
            return &fake_spaces[i];
        }
    return NULL;
}

static int fake_mapped(struct vmm_space *s)
{
    int n = 0;
    for (int i = 0; i < FAKE_PAGES; i++)
        n += s->e[i].used;
    return n;
}

void arch_mmu_destroy(struct vmm_space *s)
{
    if (fake_mapped(s))
        htest_fail(__FILE__, __LINE__, "arch_mmu_destroy with %d pages still mapped",
                   fake_mapped(s));
    s->live = false;
}

void arch_mmu_activate(struct vmm_space *s) {}

static struct fake_pte *fake_find(struct vmm_space *s, vaddr_t va)
{
    for (int i = 0; i < FAKE_PAGES; i++)
        if (s->e[i].used && s->e[i].va == va)
            return &s->e[i];
    return NULL;
}

int arch_mmu_map(struct vmm_space *s, vaddr_t va, paddr_t pa, unsigned flags)
{
    if (va & 4095 || pa & 4095)
        return -E_ALIGN;
    if (fake_find(s, va))
        return -E_EXIST;
    for (int i = 0; i < FAKE_PAGES; i++)
        if (!s->e[i].used) {
            s->e[i] = (struct fake_pte){va, pa, flags & (MMU_WRITE | MMU_NX), true};
            return 0;
        }
    return -E_NOMEM;
}

int arch_mmu_unmap(struct vmm_space *s, vaddr_t va, paddr_t *pa)
{
    struct fake_pte *e = fake_find(s, va);
    if (!e)
        return -E_NOENT;
    if (pa)
        *pa = e->pa;
    e->used = false;
    return 0;
}

int arch_mmu_protect(struct vmm_space *s, vaddr_t va, unsigned flags)
{
    struct fake_pte *e = fake_find(s, va);
    if (!e)
        return -E_NOENT;
    e->flags = flags & (MMU_WRITE | MMU_NX);
    return 0;
}

int arch_mmu_query(struct vmm_space *s, vaddr_t va, paddr_t *pa, unsigned *flags)
{
    struct fake_pte *e = fake_find(s, va & ~4095ull);
    if (!e)
        return -E_NOENT;
    if (pa)
        *pa = e->pa;
    if (flags)
        *flags = e->flags;
    return 0;
}

paddr_t arch_frame_alloc(void)
{
    fake_pool_take();
    if (fake_frame_budget == 0) {
        fake_pool_give();
        return 0;
    }
    for (int i = 0; i < FAKE_FRAMES; i++)
        if (!fake_frame_used[i]) {
            fake_frame_used[i] = true;
            if (fake_frame_budget > 0)
                fake_frame_budget--;
            fake_pool_give();
            memset(fake_mem[i], 0xA5, 4096); /* contents undefined: make it show */
            return fake_pa(i);
        }
    fake_pool_give();
    return 0;
}

void arch_frame_free(paddr_t pa)
{
    fake_pool_take();
    bool was = fake_frame_used[fake_idx(pa)];
    fake_frame_used[fake_idx(pa)] = false;
    fake_pool_give();
    if (!was)
        htest_fail(__FILE__, __LINE__, "frame 0x%llx freed twice", (unsigned long long)pa);
}

void arch_frame_zero(paddr_t pa)
{
    memset(fake_frame(pa), 0, 4096);
}
void arch_frame_copy(paddr_t d, paddr_t s)
{
    memcpy(fake_frame(d), fake_frame(s), 4096);
}
void arch_frame_write(paddr_t pa, size_t off, const void *src, size_t n)
{
    memcpy(fake_frame(pa) + off, src, n);
}
void arch_frame_read(paddr_t pa, size_t off, void *dst, size_t n)
{
    memcpy(dst, fake_frame(pa) + off, n);
}

/* A fresh VM: reference table cleared, a zero frame, no budget. */
static void fake_vm_reset(void)
{
    memset(fake_refs, 0, sizeof(fake_refs));
    memset(fake_frame_used, 0, sizeof(fake_frame_used));
    fake_frame_budget = -1;
    paddr_t zero = arch_frame_alloc();
    arch_frame_zero(zero);
    vm_init(fake_refs, FAKE_FRAMES + 2, zero);
}

/* The byte at va as the space sees it (0 if unmapped). */
static uint8_t fake_peek(struct vm_as *as, vaddr_t va)
{
    paddr_t pa;
    unsigned fl;
    if (arch_mmu_query(as->mmu, va, &pa, &fl))
        return 0;
    return fake_frame(pa)[va & 4095];
}

#endif
