/* The bit-by-bit first-fit baseline; see bitscan.h. */
#include "bitscan.h"

#include "bench.h"

#include <string.h>

static int test_bit(const struct bitscan *b, uint64_t i) { return b->bits[i / 8] >> (i % 8) & 1; }
static void set_bit(struct bitscan *b, uint64_t i) { b->bits[i / 8] |= (uint8_t)(1u << (i % 8)); }
static void clear_bit(struct bitscan *b, uint64_t i)
{
    b->bits[i / 8] &= (uint8_t)~(1u << (i % 8));
}

void bitscan_init(struct bitscan *b, uint64_t bytes, uint64_t used_below)
{
    b->nframes = bytes / 4096;
    b->bits = bench_array((b->nframes + 7) / 8);
    memset(b->bits, 0, (b->nframes + 7) / 8); /* fault every page in now */
    uint64_t used = used_below / 4096;
    if (used < 256)
        used = 256; /* the low 1 MiB, as Pagoda keeps it */
    for (uint64_t i = 0; i < used; i++)
        set_bit(b, i);
}

void bitscan_fini(struct bitscan *b) { bench_array_free(b->bits, (b->nframes + 7) / 8); }

uint64_t bitscan_alloc(struct bitscan *b, size_t n)
{
    uint64_t run = 0;
    if (n == 0)
        return 0;
    for (uint64_t i = 0; i < b->nframes; i++) {
        if (test_bit(b, i)) {
            run = 0;
            continue;
        }
        if (++run == n) {
            uint64_t first = i + 1 - n;
            for (uint64_t j = first; j <= i; j++)
                set_bit(b, j);
            return first * 4096;
        }
    }
    return 0;
}

void bitscan_free(struct bitscan *b, uint64_t pa, size_t n)
{
    for (uint64_t j = pa / 4096; j < pa / 4096 + n; j++)
        clear_bit(b, j);
}
