/*
 * Host tests of the heap's block-start tests (src/mm/heap_internal.h): the
 * exact one (chunk_is_block_start, chunk_carved_start) and kfree's short
 * one (chunk_fast_start), checked against plain division for every class
 * stride, with and without the hardening header, on spans of one and of
 * many units (the first block sits at the span's base), at every carve
 * depth that matters and at every address of a one-unit span. Only the
 * descriptors' arithmetic runs: no memory is touched through p.
 */
#include <stdint.h>

#include "../../src/mm/heap_internal.h"
#include "harness.h"

#define BASE ((uintptr_t)0xffff800123450000ull) /* CHUNK_SIZE-aligned */

static const uint32_t sizes[] = {
    16,    32,    48,    64,    80,    96,    112,   128,   144,   160,   176,   192,
    208,   224,   240,   256,   288,   320,   352,   384,   416,   448,   480,   512,
    576,   640,   704,   768,   832,   896,   960,   1024,  1168,  1296,  1424,  1552,
    1712,  1808,  1920,  2048,  2560,  3072,  3584,  4096,  5120,  6144,  7168,  8192,
    10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768, 40960, 49152, 57344, 65536,
};

/* What the tests must say: p is base + i * stride with i < ncarved. */
static bool truth(const struct chunk *ch, uintptr_t p)
{
    if (p < ch->base)
        return false;
    uintptr_t off = p - ch->base;
    return off % ch->stride == 0 && off / ch->stride < ch->ncarved;
}

/* A descriptor as block_refill and carve leave it. */
static void make(struct chunk *ch, uint32_t stride, uint32_t units, uint64_t ncarved)
{
    *ch = (struct chunk){.base = BASE, .stride = stride, .units = units};
    ch->total = (uint32_t)(((uintptr_t)units * CHUNK_SIZE - HDR_SIZE) / stride);
    ch->ncarved = ncarved < ch->total ? ncarved : ch->total;
    ch->div_mul = heap_div_mul(stride);
    ch->div_e = (uint32_t)(ch->div_mul * stride);
    ch->fast_limit = ch->ncarved * ch->div_e;
    chunk_set_fast(ch, false);
}

/* Compare every test with the truth at p; count the mismatches. */
static unsigned check_at(const struct chunk *ch, uintptr_t p)
{
    bool t = truth(ch, p);
    unsigned bad = 0;
    bad += chunk_is_block_start(ch, (const void *)p) != t;
    bad += chunk_carved_start(ch, (const void *)p) != t;
    /* The short test may say no when the exact one says yes (a span it
     * does not cover), never yes when the truth is no. */
    bool fast = chunk_fast_start(ch, (const void *)p);
    bool covered = ch->units == 1;
    bad += fast && !t;
    bad += covered && fast != t;
    return bad;
}

/* Every address of one-unit spans, every stride, carve depths 0, 1,
 * half, all but one and all. */
HTEST(heap_blockstart_every_address_of_a_one_unit_span)
{
    struct chunk ch;
    for (unsigned s = 0; s < ARRAY_SIZE(sizes); s++) {
        for (uint32_t hdr = 0; hdr <= HDR_SIZE; hdr += HDR_SIZE) {
            uint32_t stride = sizes[s] + hdr;
            if (stride > CHUNK_SIZE - 4096 - HDR_SIZE)
                continue; /* one unit holds no block past the largest offset */
            make(&ch, stride, 1, 0);
            uint64_t depths[] = {0, 1, ch.total / 2, ch.total ? ch.total - 1 : 0, ch.total};
            for (unsigned d = 0; d < ARRAY_SIZE(depths); d++) {
                make(&ch, stride, 1, depths[d]);
                unsigned bad = 0;
                for (uintptr_t p = BASE; p < BASE + CHUNK_SIZE; p++)
                    bad += check_at(&ch, p);
                CHECK_EQ(bad, 0u);
                if (bad)
                    printk("stride %u carved %lu: %u wrong\n", stride,
                           (unsigned long)depths[d], bad);
            }
        }
    }
}

/* Spans of many units (the exact test only): every 8th address, which
 * covers each block start, each 8-byte misalignment and the header. */
HTEST(heap_blockstart_long_spans)
{
    static const uint32_t units[] = {2, 5, 17, SPAN_MAX_UNITS};
    struct chunk ch;
    for (unsigned s = 0; s < ARRAY_SIZE(sizes); s++) {
        for (uint32_t hdr = 0; hdr <= HDR_SIZE; hdr += HDR_SIZE) {
            for (unsigned u = 0; u < ARRAY_SIZE(units); u++) {
                uint32_t stride = sizes[s] + hdr;
                make(&ch, stride, units[u], 0);
                uint64_t depths[] = {0, 1, ch.total / 2, ch.total};
                for (unsigned d = 0; d < ARRAY_SIZE(depths); d++) {
                    make(&ch, stride, units[u], depths[d]);
                    CHECK(!chunk_fast_start(&ch, (const void *)ch.base));
                    unsigned bad = 0;
                    uintptr_t end = BASE + (uintptr_t)units[u] * CHUNK_SIZE;
                    for (uintptr_t p = BASE; p < end; p += 8)
                        bad += check_at(&ch, p);
                    CHECK_EQ(bad, 0u);
                }
            }
        }
    }
}

/* Hardening turns the short test off; the lock-free exact one is off too
 * (its limit is 0), so every free takes the checked path. */
HTEST(heap_blockstart_hardening_sends_every_free_to_the_checks)
{
    struct chunk ch;
    make(&ch, 64 + HDR_SIZE, 1, 100);
    chunk_set_fast(&ch, true);
    ch.fast_limit = 0;
    for (uintptr_t p = BASE; p < BASE + CHUNK_SIZE; p += 16) {
        CHECK(!chunk_fast_start(&ch, (const void *)p));
        CHECK(!chunk_carved_start(&ch, (const void *)p));
    }
    CHECK(chunk_is_block_start(&ch, (const void *)ch.base));
}

/* A span with pages given back (heap_holes.c) has no short test: its frees
 * must reach the holes check before anything reads the block. */
HTEST(heap_blockstart_no_short_test_for_a_span_with_holes)
{
    struct chunk ch;
    make(&ch, 256, 1, 100);
    CHECK(chunk_fast_start(&ch, (const void *)(BASE + 256)));
    ch.holes = 1ull << 3;
    chunk_set_fast(&ch, false);
    unsigned yes = 0;
    for (uintptr_t p = BASE; p < BASE + CHUNK_SIZE; p += 16)
        yes += chunk_fast_start(&ch, (const void *)p);
    CHECK_EQ(yes, 0u);
    CHECK(chunk_is_block_start(&ch, (const void *)(BASE + 256))); /* still a block */
}

/* The multipliers of powers of two, where floor(2^64 / d) is exact. */
HTEST(heap_blockstart_multiplier_of_a_power_of_two)
{
    for (uint64_t d = 16; d <= 65536; d <<= 1) {
        uint64_t m = heap_div_mul(d);
        CHECK_EQ(m, (UINT64_MAX / d) + 2); /* 2^64 / d + 1 */
        CHECK_EQ((uint64_t)(m * d), d);    /* e = d */
    }
    CHECK_EQ(heap_div_mul(48), UINT64_MAX / 48 + 1);
}
