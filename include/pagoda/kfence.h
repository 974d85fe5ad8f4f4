/*
 * Sampled guard pages (src/mm/kfence.c): every Nth kmalloc, on average, is
 * served from a small pool of slots instead of the heap. Each slot is one
 * page between two unmapped guard pages; the object sits against the guard
 * page above it, the rest of the page holds canary bytes checked on free,
 * and a freed slot's page is unmapped. So an overflow, a use after free, a
 * double or an invalid free of a sampled object is caught when it happens
 * (or at the latest at kfree), with the stacks that allocated and freed it.
 *
 * The policy is portable; the page source below is the kernel's (or a host
 * test's) way of making one page present or not.
 */
#ifndef PAGODA_KFENCE_H
#define PAGODA_KFENCE_H

#include <pagoda/percpu.h>
#include <pagoda/types.h>

#define KFENCE_SLOTS 64                          /* objects the pool can hold at once */
#define KFENCE_POOL_PAGES (2 * KFENCE_SLOTS + 1) /* guard, slot, guard, ..., guard */
#define KFENCE_POOL_BYTES (KFENCE_POOL_PAGES * PAGE_SIZE)
#define KFENCE_STACK_DEPTH 8 /* return addresses kept per allocation and free */
/* The default sampling interval: one allocation in about this many. Chosen
 * by measurement (README, "Sampled guard pages"): under 1% of the cost of
 * the benchmark's small kmalloc+kfree pair. */
#define KFENCE_SAMPLE_DEFAULT 4096

/* How the pool's pages are made present. base is the pool: KFENCE_POOL_PAGES
 * pages of address space, none present at first. */
struct kfence_source {
    uintptr_t base;
    /* Make the slot page at `page` present (read+write) or not. 0 or an
     * error code; a slot whose page cannot be mapped is not used. */
    int (*set_present)(struct kfence_source *src, uintptr_t page, bool present);
    /* Up to max return addresses of the caller's caller and up: the stack
     * that called kmalloc/kfree. Returns how many. May be NULL. */
    unsigned (*stack)(uintptr_t *pcs, unsigned max);
    /* Print one stack entry ("    #i 0x... name+0x.."). May be NULL. */
    void (*print_pc)(unsigned i, uintptr_t pc);
};

/* The sampling countdown, one per CPU, which kmalloc decrements: when the
 * running CPU's reaches zero, the allocation is offered to
 * kfence_alloc_sampled. Off, it is far out. The heap keeps it in the
 * CPU's front, beside the magazines kmalloc reads anyway; kfence sets it
 * with this (relaxed store: only its CPU writes it otherwise). */
void heap_sample_arm(unsigned cpu, uint64_t countdown);
/* The pool's bounds, read by kfree's hook ([lo, lo + bytes); 0 bytes off). */
extern uintptr_t kfence_pool_lo __attribute__((visibility("hidden")));
extern uintptr_t kfence_pool_bytes __attribute__((visibility("hidden")));

/* True if p lies in the pool (guard pages included): kfree, krealloc and
 * kmalloc_usable_size send such pointers to kfence, before anything else. */
static inline bool kfence_owns(const void *p)
{
    return (uintptr_t)p - kfence_pool_lo < kfence_pool_bytes;
}

/* Start the pool over src with a sampling interval of `interval`
 * allocations (0: off; the pool still answers kfence_owns for nothing).
 * seed randomises the intervals. May be called again (tests): every slot
 * must be free. */
void kfence_init(struct kfence_source *src, uint64_t interval, uint64_t seed);
/* Change the interval (0 turns sampling off; live objects stay valid). */
void kfence_set_interval(uint64_t interval);
uint64_t kfence_interval(void);
/* Make the next kmalloc a sample (demonstrations and tests). */
void kfence_force_next(void);

/* kmalloc's hook when the countdown hit zero: a sampled object of `size`
 * bytes (16-byte aligned), or NULL when not possible (too big, pool full,
 * off): then the heap serves it. Re-arms the countdown. */
void *kfence_alloc_sampled(size_t size);
/* Free a pointer kfence_owns. A double free, an invalid free, or canary
 * bytes overwritten (an out-of-bounds write) is reported and panics. */
void kfence_free(void *p);
/* The requested size of a live sampled object; an invalid pointer panics. */
size_t kfence_usable_size(const void *p);
/* krealloc of a sampled object: a new block (sampled or not) with the
 * contents, the old one freed. size is not 0. NULL leaves p alone. */
void *kfence_realloc(void *p, size_t size);

/* The page-fault handler's question, asked first: is va in the pool? If so
 * the access is a bug: print the report (kind, object, access at pc, the
 * stacks) and return true; the caller then takes its fatal path. */
bool kfence_fault(uintptr_t va, bool write, uintptr_t pc);
/* Verify every live object's canary bytes. 0, or -E_CORRUPT after the
 * report (without panicking). */
int kfence_check(void);

struct kfence_stats {
    uint64_t interval;   /* sampling interval (0: off) */
    uint32_t slots;      /* slots usable (with a page) */
    uint32_t live;       /* sampled objects live now */
    uint64_t live_bytes; /* their requested bytes */
    uint64_t allocs;     /* sampled allocations so far */
    uint64_t frees;
    uint64_t pool_full; /* samples the heap had to serve: no free slot */
    uint64_t too_big;   /* samples larger than a page (heap served) */
    uint64_t bugs;      /* reports made */
};
void kfence_get_stats(struct kfence_stats *st);
/* Print the stats and the live objects (the monitor's `heap`). */
void kfence_print_stats(void);

#endif
