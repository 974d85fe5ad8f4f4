/* The flat-bitmap baseline; see flatbit.h. */
#include "flatbit.h"

#include "bench.h"

#include <string.h>

void flatbit_init(struct flatbit *b, uint64_t bytes, uint64_t used_below)
{
    b->nframes = bytes / 4096;
    b->nwords = (b->nframes + 63) / 64;
    b->bits = bench_array(b->nwords * 8);
    uint64_t used = used_below / 4096;
    if (used < 256)
        used = 256;
    memset(b->bits, 0xff, b->nwords * 8); /* fault every page in now */
    memset(b->bits, 0, used / 64 * 8);
    if (used % 64)
        b->bits[used / 64] = ~0ULL << (used % 64);
    if (b->nframes % 64)
        b->bits[b->nwords - 1] &= ~(~0ULL << (b->nframes % 64));
    b->hint = used / 64;
    b->free = b->nframes - used;
}

void flatbit_fini(struct flatbit *b) { bench_array_free(b->bits, b->nwords * 8); }

static inline unsigned ones_low(uint64_t x) { return ~x ? (unsigned)__builtin_ctzll(~x) : 64; }
static inline unsigned ones_high(uint64_t x) { return ~x ? (unsigned)__builtin_clzll(~x) : 64; }

/* Bits i such that bits i .. i+n-1 of x are all set (1 <= n <= 64). */
static inline uint64_t fit_mask(uint64_t x, uint64_t n)
{
    uint64_t r = 1;
    while (2 * r <= n) {
        x &= x >> r;
        r *= 2;
    }
    if (n > r)
        x &= x >> (n - r);
    return x;
}

static uint64_t alloc_one(struct flatbit *b)
{
    uint64_t w = b->hint;
    while (w < b->nwords && !b->bits[w])
        w++;
    b->hint = w;
    if (w == b->nwords)
        return 0;
    uint64_t x = b->bits[w];
    b->bits[w] = x & (x - 1);
    b->free--;
    return ((w << 6) + (uint64_t)__builtin_ctzll(x)) << 12;
}

/* The bits of word w inside frames [f, e). */
static inline uint64_t word_mask(uint64_t w, uint64_t f, uint64_t e)
{
    uint64_t m = ~0ULL;
    if (f > w << 6)
        m &= ~0ULL << (f & 63);
    if (e < (w + 1) << 6)
        m &= ~(~0ULL << (e & 63));
    return m;
}

static void mark_used(struct flatbit *b, uint64_t f, uint64_t n)
{
    for (uint64_t w = f >> 6; w << 6 < f + n; w++)
        b->bits[w] &= ~word_mask(w, f, f + n);
    b->free -= n;
}

uint64_t flatbit_alloc(struct flatbit *b, size_t n)
{
    if (n == 1)
        return alloc_one(b);
    if (n == 0 || n > b->free)
        return 0;
    uint64_t cs = 0, clen = 0; /* a run from frame cs, clen frames so far */
    for (uint64_t w = b->hint; w < b->nwords; w++) {
        uint64_t x = b->bits[w];
        if (!x) { /* the skip: a used word ends any run */
            clen = 0;
            continue;
        }
        if (clen) {
            unsigned p = ones_low(x);
            if (clen + p >= n) {
                mark_used(b, cs, n);
                return cs << 12;
            }
            if (p == 64) {
                clen += 64;
                continue;
            }
        }
        uint64_t m = n <= 64 ? fit_mask(x, n) : 0;
        if (m) {
            uint64_t f = (w << 6) + (uint64_t)__builtin_ctzll(m);
            mark_used(b, f, n);
            return f << 12;
        }
        clen = ones_high(x);
        cs = (w << 6) + 64 - clen;
    }
    return 0;
}

int flatbit_free(struct flatbit *b, uint64_t pa, size_t n)
{
    uint64_t f = pa >> 12;
    if (n == 1) {
        uint64_t w = f >> 6, bit = 1ULL << (f & 63);
        if (b->bits[w] & bit)
            return -1;
        b->bits[w] |= bit;
        b->free++;
        if (w < b->hint)
            b->hint = w;
        return 0;
    }
    for (uint64_t w = f >> 6; w << 6 < f + n; w++)
        if (b->bits[w] & word_mask(w, f, f + n))
            return -1;
    for (uint64_t w = f >> 6; w << 6 < f + n; w++)
        b->bits[w] |= word_mask(w, f, f + n);
    b->free += n;
    if (f >> 6 < b->hint)
        b->hint = f >> 6;
    return 0;
}
