/*
 * libFuzzer target: the input is a sequence of heap and slab operations run
 * against a reference model. Every live block must keep its contents, its
 * alignment and its size; live bytes must match kheap_stats; kheap_check and
 * kmem_cache_check must pass at the end. Any violation aborts.
 *
 * Input: byte 0 picks the hardening level; then 4-byte records
 * [op][slot][size lo][size hi], the size scaled by the op's bits 4-5
 * (sizes up to 512 KiB: every small class, its spans, and list blocks).
 * Pages the heap decommits are scribbled over, as if their backing were
 * lost, so a heap that kept data there fails the contents checks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagoda/kmalloc.h>
#include <pagoda/slab.h>
#include <pagoda/types.h>

#define NSLOTS 64
#define REGION (16u << 20)

struct slot {
    uint8_t *p;
    size_t n;
    uint8_t fill;
    int cache; /* -1: kmalloc */
};

static void scribble(void *p, size_t n)
{
    memset(p, 0xa5, n);
}

static void die(const char *why, size_t a)
{
    fprintf(stderr, "fuzz_heap: %s (%zu)\n", why, a);
    abort();
}

/* The expected byte at i: position-dependent near the ends, flat inside
 * (memset keeps big blocks cheap to fill). */
static uint8_t expect(const struct slot *s, size_t i)
{
    return (i < 64 || i + 64 >= s->n) ? (uint8_t)(s->fill + i * 7) : s->fill;
}

static void fill(struct slot *s, size_t from)
{
    if (s->n > from)
        memset(s->p + from, s->fill, s->n - from);
    for (size_t i = from; i < s->n && i < 64; i++)
        s->p[i] = expect(s, i);
    for (size_t i = s->n > 64 ? MAX(s->n - 64, from) : s->n; i < s->n; i++)
        s->p[i] = expect(s, i);
}

/* Every byte near the ends, a sample in between (keeps runs fast). */
static void verify(const struct slot *s)
{
    for (size_t i = 0; i < s->n; i += (i < 64 || i + 64 >= s->n) ? 1 : 61)
        if (s->p[i] != expect(s, i))
            die("contents changed", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *region;
    static struct heap_region hr;
    static const size_t cache_size[3] = {40, 300, 2500};
    if (!region && !(region = aligned_alloc(4096, REGION)))
        return 0;
    if (size < 1)
        return 0;
    heap_region_init(&hr, region, REGION);
    hr.discard = scribble;
    kheap_init(&hr.src, data[0] % 3);
    int harden = data[0] % 3;
    struct kmem_cache *caches[3];
    for (int i = 0; i < 3; i++)
        caches[i] = kmem_cache_create("fuzz", cache_size[i], 0, NULL, NULL);
    struct slot slots[NSLOTS] = {0};
    size_t live = 0;

    for (size_t at = 1; at + 4 <= size; at += 4) {
        uint8_t op = data[at];
        struct slot *s = &slots[data[at + 1] % NSLOTS];
        size_t n = (size_t)data[at + 2] | (size_t)data[at + 3] << 8;
        n <<= (op >> 4) & 3; /* up to 512 KiB */
        if (s->p)
            verify(s);
        struct kheap_stats st0, st1;
        kheap_stats(&st0);
        bool slab_free = false;
        size_t live0 = live;
        switch (op & 7) {
        case 0:
        case 1: /* alloc or free */
            if (s->p) {
                if (s->cache >= 0) {
                    kmem_cache_free(caches[s->cache], s->p);
                    slab_free = true; /* it may kmalloc or kfree a magazine */
                } else {
                    kfree(s->p);
                    live -= harden ? s->n : 0;
                }
                s->p = NULL;
                break;
            }
            s->p = kmalloc(n);
            if (!s->p)
                break;
            s->n = n;
            s->cache = -1;
            live += harden ? n : 0;
            if ((uintptr_t)s->p & 15)
                die("misaligned", (uintptr_t)s->p);
            break;
        case 2: { /* aligned */
            if (s->p)
                break;
            size_t align = (size_t)1 << (op >> 4);
            s->p = kmalloc_aligned(n & 0xffff, align);
            if (!s->p)
                break;
            if ((uintptr_t)s->p & (align - 1))
                die("misaligned", align);
            s->n = n & 0xffff;
            s->cache = -1;
            live += harden ? s->n : 0;
            break;
        }
        case 3:
        case 4: { /* realloc */
            if (!s->p || s->cache >= 0)
                break;
            uint8_t *q = krealloc(s->p, n);
            if (n == 0) {
                live -= harden ? s->n : 0;
                s->p = NULL;
                break;
            }
            if (!q)
                break;
            size_t old = s->n;
            live = live - (harden ? old : 0) + (harden ? n : 0);
            s->p = q;
            for (size_t i = 0; i < old && i < n; i += (i < 64 || i + 64 >= old) ? 1 : 61)
                if (q[i] != expect(s, i)) /* s->n is still the old size */
                    die("realloc lost contents", i);
            s->n = n;
            break;
        }
        case 5: { /* slab object */
            if (s->p)
                break;
            int c = (op >> 4) % 3;
            s->p = kmem_cache_alloc(caches[c]);
            if (!s->p)
                break;
            s->n = cache_size[c];
            s->cache = c;
            break;
        }
        case 6:
            if (op & 0x40)
                kheap_release(op & 0x80);
            else
                kmem_cache_reap_all();
            break;
        case 7:
            kheap_trim();
            break;
        }
        if (s->p && (op & 7) <= 5) {
            s->fill = (uint8_t)(op ^ n);
            fill(s, 0);
        }
        /* kmalloc ops move live bytes exactly as the model says (slab ops
         * also kmalloc their metadata, and a slab free its magazines, so
         * they are not compared). */
        kheap_stats(&st1);
        if (harden && (op & 7) <= 4 && !slab_free && st1.live_bytes - st0.live_bytes != live - live0)
            die("live bytes disagree with the model", st1.live_bytes);
    }
    for (int i = 0; i < NSLOTS; i++) {
        if (!slots[i].p)
            continue;
        verify(&slots[i]);
        if (slots[i].cache >= 0)
            kmem_cache_free(caches[slots[i].cache], slots[i].p);
        else
            kfree(slots[i].p);
    }
    for (int i = 0; i < 3; i++) {
        if (kmem_cache_check(caches[i]))
            die("kmem_cache_check", (size_t)i);
        kmem_cache_destroy(caches[i]);
    }
    struct kheap_stats st;
    kheap_stats(&st);
    if (st.live_bytes != 0 || st.live_objects != 0)
        die("live bytes left", st.live_bytes);
    if (kheap_check())
        die("kheap_check", 0);
    /* Everything goes back but the page map's nodes, which stay when they
     * sit above a free block whose pages are decommitted. */
    if (kheap_trim(), kheap_stats(&st), st.heap_bytes > (st.map_nodes ? KiB(128) : 0))
        die("pages not given back", st.heap_bytes);
    return 0;
}
