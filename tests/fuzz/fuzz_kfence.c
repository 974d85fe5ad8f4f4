/*
 * libFuzzer target: the sampled guard pages behind the real kmalloc, kfree
 * and krealloc. The pool is host memory whose slot pages are made present
 * with mprotect, so a wrong placement or a page left unmapped crashes. Every
 * live block must keep its contents and size; a sampled object must sit
 * against its guard page; every fault address kfence is asked about must be
 * claimed exactly when it is in the pool; canaries, kheap_check and the
 * counters must agree at the end.
 *
 * Input: byte 0 picks the interval (1..16); then 3-byte records
 * [op][slot][size], the size scaled by the op's bits 4-5 (up to 8 KiB, so
 * some requests are over a page and must go to the heap).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagoda/kfence.h>
#include <pagoda/kmalloc.h>
#include <pagoda/types.h>

#include "fuzz_support.h"

#define NSLOTS 96 /* more than the pool: it runs full */
#define REGION (8u << 20)

static int set_present(struct kfence_source *src, uintptr_t page, bool present)
{
    return mprotect((void *)page, PAGE_SIZE, present ? PROT_READ | PROT_WRITE : PROT_NONE);
}

static struct kfence_source source = {.set_present = set_present};

struct slot {
    uint8_t *p;
    size_t n;
    uint8_t fill;
};

static void check_block(const struct slot *s)
{
    for (size_t i = 0; i < s->n; i++)
        INVARIANT(s->p[i] == (uint8_t)(s->fill + i));
    if (kfence_owns(s->p)) {
        INVARIANT(kmalloc_usable_size(s->p) == s->n);
        INVARIANT(((uintptr_t)s->p & 15) == 0);
        uintptr_t end = (uintptr_t)s->p + ALIGN_UP(MAX(s->n, (size_t)1), 16);
        INVARIANT(IS_ALIGNED(end, PAGE_SIZE)); /* against the guard page */
    }
}

static void fill(struct slot *s, size_t from)
{
    for (size_t i = from; i < s->n; i++)
        s->p[i] = (uint8_t)(s->fill + i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *region;
    static struct heap_region hr;
    if (!region && !(region = aligned_alloc(4096, REGION)))
        return 0;
    if (!source.base) {
        void *pool = mmap(NULL, KFENCE_POOL_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (pool == MAP_FAILED)
            return 0;
        source.base = (uintptr_t)pool;
    }
    if (size < 1)
        return 0;
    heap_region_init(&hr, region, REGION);
    kheap_init(&hr.src, 0);
    kfence_init(&source, 1 + data[0] % 16, data[0]);
    struct slot slots[NSLOTS] = {0};
    uint64_t live = 0, live_bytes = 0;

    for (size_t at = 1; at + 3 <= size; at += 3) {
        uint8_t op = data[at];
        struct slot *s = &slots[data[at + 1] % NSLOTS];
        size_t n = (size_t)data[at + 2] << ((op >> 4) & 3) * 2 >> 1; /* up to 8 KiB */
        if (s->p)
            check_block(s);
        switch (op & 3) {
        case 0: /* alloc, or free when taken */
        case 1:
            if (s->p) {
                live -= kfence_owns(s->p);
                live_bytes -= kfence_owns(s->p) ? s->n : 0;
                kfree(s->p);
                s->p = NULL;
                break;
            }
            s->p = kmalloc(n);
            INVARIANT(s->p != NULL);
            s->n = n;
            s->fill = op;
            fill(s, 0);
            live += kfence_owns(s->p);
            live_bytes += kfence_owns(s->p) ? n : 0;
            INVARIANT(!kfence_owns(s->p) || n <= PAGE_SIZE);
            break;
        case 2: { /* realloc */
            if (!s->p || n == 0)
                break;
            bool was = kfence_owns(s->p);
            uint8_t *q = krealloc(s->p, n);
            INVARIANT(q != NULL);
            live = live - was + kfence_owns(q);
            live_bytes = live_bytes - (was ? s->n : 0) + (kfence_owns(q) ? n : 0);
            size_t keep = MIN(n, s->n);
            for (size_t i = 0; i < keep; i++)
                INVARIANT(q[i] == (uint8_t)(s->fill + i));
            s->p = q;
            s->n = n;
            fill(s, keep);
            check_block(s);
            break;
        }
        case 3: { /* ask about a fault at an address derived from a block */
            if (!s->p)
                break;
            uintptr_t a = (uintptr_t)s->p + s->n + (op >> 2);
            bool in_pool = a - source.base < KFENCE_POOL_BYTES;
            bool in_page = kfence_owns(s->p) && a < ALIGN_UP((uintptr_t)s->p + 1, PAGE_SIZE);
            if (!in_page) /* a live sampled object's own page never faults */
                INVARIANT(kfence_fault(a, op & 64, 0) == in_pool);
            break;
        }
        }
        struct kfence_stats st;
        kfence_get_stats(&st);
        INVARIANT(st.live == live && st.live_bytes == live_bytes);
    }
    INVARIANT(kfence_check() == 0);
    INVARIANT(kheap_check() == 0);
    for (int i = 0; i < NSLOTS; i++)
        if (slots[i].p) {
            check_block(&slots[i]);
            kfree(slots[i].p);
        }
    struct kfence_stats st;
    kfence_get_stats(&st);
    INVARIANT(st.live == 0 && st.live_bytes == 0);
    return 0;
}
