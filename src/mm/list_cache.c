/*
 * The list allocator's cache of big blocks (hysteresis for big blocks).
 *
 * A freed list block of LIST_CACHE_MIN bytes or more is kept whole, still
 * flagged USED, in a small cache (LIST_CACHE_SLOTS blocks, LIST_CACHE_MAX
 * bytes; the oldest goes to the bins when it is full), and a plain request
 * of a size it fits within an eighth takes it back first. For sizes that
 * repeat, a pair on a big block is then a few loads and stores instead of
 * a take, a split, and two merges on the free.
 *
 * The cache adapts: a request it cannot serve counts against it, and while
 * misses outweigh hits it holds at most one block, on one free in 16, as a
 * trial; sizes that do not repeat then merge as before, and pay for the
 * cache on few of their frees.
 *
 * Checks: kfree has marked a cached block FREE in its header's check
 * word, so a second kfree of it is still a double free (and with the
 * checks compiled out, list_cache_put finds it among its slots).
 *
 * Release: the cached bytes are idle memory to the release policy. A
 * normal run keeps them (the working set of big pairs); a full run
 * (kheap_release(true), kheap_trim) and a request no bin fits empty the
 * cache into the bins first, where its blocks merge and can be decommitted.
 *
 * One heap (kheap), so one cache; list_init empties it. In front of it,
 * each CPU keeps a few big blocks of its own without the lock (heap_big.c);
 * what they give back may land here, and a flush empties the calling CPU's
 * first.
 *
 * Cost: O(LIST_CACHE_SLOTS) per put and take. Weakness: a cached block does
 * not merge with its free neighbours until it leaves the cache.
 */
#include "heap_internal.h"

#define LIST_CACHE_MIN KiB(64) /* blocks from here up are cached when freed */
#define LIST_CACHE_SLOTS 4
#define LIST_CACHE_MAX MiB(4) /* bytes the cache holds at most */

static inline size_t blk_size(const struct hhdr *b)
{
    return b->info & ~(uint64_t)HB_FLAGS;
}

static struct {
    struct hhdr *b[LIST_CACHE_SLOTS]; /* oldest first */
    unsigned n;
    size_t bytes;
    int score;      /* hits lately minus misses: at 0 or below, one block on trial */
    unsigned trial; /* frees while the score is low: every 16th is a trial */
} cache;
#define CACHE_SCORE_MAX 16

size_t list_cached_bytes(const struct heap *h)
{
    UNUSED(h);
    return cache.bytes + big_kept_bytes(); /* and the CPUs' kept blocks (heap_big.c) */
}

/* Take slot i out (the order of the rest kept: a few words, no call). */
static struct hhdr *cache_out(unsigned i)
{
    struct hhdr *b = cache.b[i];
    cache.bytes -= blk_size(b);
    cache.n--;
    for (; i < cache.n; i++)
        cache.b[i] = cache.b[i + 1];
    return b;
}

static void cache_drop(struct heap *h, unsigned i)
{
    list_free_block(h, cache_out(i));
}

size_t list_cache_flush(struct heap *h)
{
    /* The calling CPU's kept blocks first (heap_big.c): with those, they
     * merge; other CPUs give theirs back from their idle loops. */
    size_t bytes = big_drain(h) + cache.bytes;
    while (cache.n)
        cache_drop(h, cache.n - 1);
    return bytes;
}

/* Keep the freed block b (still flagged USED) instead of merging it. */
bool list_cache_put(struct heap *h, struct hhdr *b)
{
    size_t n = blk_size(b);
    for (unsigned i = 0; i < cache.n; i++) /* USED in its header: only this tells */
        if (cache.b[i] == b)
            heap_fail("double free (of a list block)", b + 1);
    if (n < LIST_CACHE_MIN || n > LIST_CACHE_MAX || (b->info & HB_CHUNK) || h->releasing ||
        (cache.score <= 0 && (cache.n || (++cache.trial & 15))))
        return false;
    while (cache.n && (cache.n == LIST_CACHE_SLOTS || cache.bytes + n > LIST_CACHE_MAX))
        cache_drop(h, 0); /* the oldest goes to the bins */
    cache.b[cache.n++] = b;
    cache.bytes += n;
    return true;
}

/* A cached block of want..want + want / 8 bytes (newest first), or NULL.
 * Sizes that do not repeat (a miss) drive the score down; then the cache
 * goes to the bins, where its blocks merge, and keeps only one on trial,
 * so a workload of random big sizes pays nothing for blocks that never
 * come back whole. */
struct hhdr *list_cache_take(struct heap *h, size_t want)
{
    if (!cache.n || want < LIST_CACHE_MIN)
        return NULL;
    for (unsigned i = cache.n; i-- > 0;) {
        struct hhdr *b = cache.b[i];
        if (blk_size(b) >= want && blk_size(b) - want <= want / 8) {
            cache.score = MIN(cache.score + 1, CACHE_SCORE_MAX);
            return cache_out(i);
        }
    }
    cache.score = MAX(cache.score - 2, -CACHE_SCORE_MAX);
    if (cache.score <= 0)
        list_cache_flush(h);
    return NULL;
}

void list_cache_reset(void)
{
    memset(&cache, 0, sizeof(cache));
}
