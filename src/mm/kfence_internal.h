/*
 * Private to kfence (src/mm/kfence.c: the pool; kfence_report.c: reports
 * and statistics).
 */
#ifndef PAGODA_MM_KFENCE_INTERNAL_H
#define PAGODA_MM_KFENCE_INTERNAL_H

#include <pagoda/kfence.h>
#include <pagoda/spinlock.h>

enum { SLOT_UNUSED, SLOT_LIVE, SLOT_FREED };

struct kslot {
    uintptr_t page; /* the slot's page */
    uintptr_t addr; /* the object (of the last use, once freed) */
    size_t size;
    uint8_t state;
    bool usable; /* the page could be made present at least once */
    uint8_t nalloc, nfree;
    uintptr_t alloc_pcs[KFENCE_STACK_DEPTH], free_pcs[KFENCE_STACK_DEPTH];
    struct kslot *next; /* the free queue, oldest first */
};

struct kfence_pool {
    spinlock_t lock; /* initialised here: kfence_get_stats may run before kfence_init */
    struct kfence_source *src;
    uint64_t interval, rng;
    struct kslot slots[KFENCE_SLOTS];
    struct kslot *head, *tail;
    struct kfence_stats st;
};
extern struct kfence_pool kf;

/* kfence_report.c, under kf.lock. */
void kfence_print_stack(const char *title, const uintptr_t *pcs, unsigned n);
/* The report's body: the object and its stacks. */
void kfence_report_object(const struct kslot *s);
void kfence_report_begin(void);
void kfence_report_end(void);
/* Where p is relative to s's object, as "N bytes left/right of" or "N bytes
 * into". */
void kfence_where(char *buf, size_t size, const struct kslot *s, uintptr_t p);

#endif
