/*
 * Per-CPU fronts for big blocks: a free of a list block on the CPU that
 * handed it out, and the next request of about its size there, without the
 * heap lock.
 *
 * Theory of operation
 * -------------------
 * A request above the small classes is a list block, and the list
 * allocator lives under the heap lock: two lock trips and the list's own
 * bookkeeping for every big pair, several hundred instructions, where the
 * small classes pay a magazine pop and push. Big buffers are mostly
 * allocated and freed on one CPU (a scratch buffer, a copy, a table being
 * rebuilt), so each CPU keeps two short arrays in its front (struct
 * big_front):
 *
 *   out[BIG_OUT]   the blocks it handed out lately for plain kmalloc
 *                  requests, still live. A free on that CPU of a block
 *                  found here is proven: nothing is read through the
 *                  pointer before the array vouches for it, as a free
 *                  must (the check word then only confirms it).
 *   blk[BIG_SLOTS] blocks freed that way, kept whole (flagged USED in the
 *                  list, their check word FREE, at most BIG_BYTES in all),
 *                  for its next request of their size up to an eighth
 *                  more, newest first; the oldest goes back to the list
 *                  (under the lock) to make room.
 *
 * The front adapts as the list allocator's own cache does (list_cache.c):
 * a plain request it cannot serve while it keeps blocks counts against it,
 * a hit for it; while misses outweigh hits it sends its blocks back to the
 * list and keeps only one freed block in 16, as a trial. Sizes that do not
 * repeat then merge in the list as before: kept blocks they never reuse
 * would only pin memory and send the heap to its page source (pairs of
 * random sizes from 4 KiB to 1 MiB took 149 release runs and 8,697 page
 * gives-back in 5,000 pairs without it).
 *
 * Ownership. A block's tag carries, over its 32-bit ALLOC check word, the
 * index of the CPU whose out[] holds it and the slot (owner bits; none
 * when no front holds it). An out[] entry is removed by whoever frees the
 * block: the owner with an atomic exchange (it only frees what the
 * exchange returned), any other CPU in the locked free with a
 * compare-and-swap of the slot the owner bits name. One of the two wins;
 * the loser's free is a second free of the block and is reported as one:
 * the owner's exchange finds NULL and takes the locked path, where the
 * check word already says FREE; a locked free whose swap fails reports it
 * at once. So a stale entry never vouches for a freed block, and two
 * CPUs freeing the same big block at once cannot both succeed. The
 * locked free acts on the owner bits of the one tag load it checked: a
 * second load could see the owner's kept block (FREE, no owner bits) and
 * free it again. Only the
 * owner stores pointers into its out[] (into empty slots, without the lock
 * when it reuses a kept block; when all are taken it evicts one, under the
 * lock, where no other CPU can be dropping an entry, and clears that
 * block's owner bits first: its free then takes the lock).
 *
 * Statistics: a kept block is free. The front's `live` takes its capacity
 * off when it is kept and adds it back when it is reused, and `objects`
 * counts the list blocks this front took back minus those it kept (both
 * may wrap: the heap's own counters hold the blocks' first allocation);
 * heap_out_bytes and kheap_stats add them up over the CPUs. To the release
 * policy the kept bytes are idle memory (list_cached_bytes); the calling
 * CPU's go back to the list with its magazines (kheap_mag_drain: the idle
 * drain, kheap_trim on every CPU, a host thread's end).
 *
 * Only at level 0 with the free checks built in (the check word is what
 * says FREE; hardening keeps its own per-block checks, on the locked path).
 * Cost: a kept-block pair is a scan of eight pointers, an atomic exchange
 * and a few stores, no lock. Weakness: a block freed on another CPU takes
 * the lock, as before, and a kept block does not merge with its free
 * neighbours until it goes back.
 */
#include "heap_internal.h"

#define BIG_BYTES MiB(4) /* bytes one CPU keeps at most; bigger blocks are never kept */
#define BIG_SCORE_MAX 16

#if HEAP_CHECKED

static inline unsigned front_index(const struct heap_front *f)
{
    return (unsigned)(f - heap_fronts);
}

static inline uint64_t owner_tag(const struct heap *h, const void *p, unsigned cpu, unsigned slot)
{
    return ((uint64_t)slot << 40) | ((uint64_t)(cpu + 1) << 32) |
           heap_check_word(h, p, HSTATE_ALLOC);
}

/* An empty out[] slot, or BIG_OUT. */
static unsigned free_slot(const struct big_front *b)
{
    for (unsigned s = 0; s < BIG_OUT; s++)
        if (!MAG_LD(b->out[s]))
            return s;
    return BIG_OUT;
}

/* p's slot in out[], or BIG_OUT. */
static unsigned find_slot(const struct big_front *b, const void *p)
{
    for (unsigned s = 0; s < BIG_OUT; s++)
        if (MAG_LD(b->out[s]) == p)
            return s;
    return BIG_OUT;
}

/* Kept block i out of blk[] (the order of the rest kept); its capacity
 * through *cap. */
static inline void *unkeep(struct big_front *b, unsigned i, size_t *cap)
{
    void *p = b->blk[i];
    *cap = b->cap[i];
    for (; i + 1 < b->n; i++) {
        b->blk[i] = b->blk[i + 1];
        b->cap[i] = b->cap[i + 1];
    }
    b->n--;
    MAG_ST(b->bytes, b->bytes - *cap);
    return p;
}

/* p's tag without owner bits: no front holds it, its free takes the lock. */
static inline void unowned(const struct heap *h, void *p)
{
    MAG_ST(hdr_of(p)->tag, (uint64_t)heap_check_word(h, p, HSTATE_ALLOC));
}

/* Note the live block p (cap bytes) in empty slot s of this CPU's out[]:
 * owner bits first, then the entry. */
static inline void note_at(const struct heap *h, struct heap_front *f, void *p, size_t cap,
                           unsigned s)
{
    MAG_ST(hdr_of(p)->tag, owner_tag(h, p, front_index(f), s));
    f->big.outcap[s] = cap;
    MAG_ST(f->big.out[s], p);
}

/* Under the heap lock: kept block i back to the list. */
static void drop(struct heap *h, struct big_front *b, unsigned i)
{
    size_t cap;
    void *p = unkeep(b, i, &cap);
    heap_note_big_free(h, cap);
    list_free(h, p);
}

/* The oldest kept blocks back to the list until one of cap bytes fits.
 * Out of line: big_put's usual path saves no register for it. */
__attribute__((noinline)) static void make_room(struct heap *h, struct big_front *b, size_t cap)
{
    spin_lock(&h->lock);
    while (b->n && (b->n == BIG_SLOTS || b->bytes + cap > BIG_BYTES))
        drop(h, b, 0);
    heap_release_check(h);
    spin_unlock(&h->lock);
}

void *big_take(struct heap *h, size_t size)
{
    struct heap_front *f = heap_front(h);
    struct big_front *b = &f->big;
    for (unsigned i = b->n; i-- > 0;) {
        size_t cap = b->cap[i];
        if (cap < size || cap - size > size / 8)
            continue;
        void *p = unkeep(b, i, &cap);
        MAG_ST(b->objects, b->objects + 1);
        MAG_ST(b->live, b->live + cap);
        b->score = MIN(b->score + 1, BIG_SCORE_MAX);
        unsigned s = free_slot(b);
        if (s < BIG_OUT)
            note_at(h, f, p, cap, s);
        else
            unowned(h, p);
        return p;
    }
    return NULL;
}

bool big_put(struct heap *h, void *p)
{
    struct heap_front *f = heap_front(h);
    struct big_front *b = &f->big;
    unsigned s = find_slot(b, p);
    if (s == BIG_OUT)
        return false;
    /* NULL back: a locked free on another CPU dropped it first; this free
     * is then a second one, which the locked path reports. */
    if (__atomic_exchange_n(&b->out[s], NULL, __ATOMIC_ACQ_REL) != p)
        return false;
    struct hhdr *hd = hdr_of(p);
    size_t cap = b->outcap[s];
    /* Not kept: too big, or sizes have not been repeating (but one free in
     * 16 keeps its block, on trial). The locked free then, which no owner
     * bits send back here. */
    if (cap > BIG_BYTES || (b->score <= 0 && (b->n || (++b->trial & 15)))) {
        unowned(h, p);
        return false;
    }
    if (b->n == BIG_SLOTS || b->bytes + cap > BIG_BYTES)
        make_room(h, b, cap);
    MAG_ST(hd->tag, (uint64_t)heap_check_word(h, p, HSTATE_FREE)); /* a second kfree finds it */
    b->blk[b->n] = p;
    b->cap[b->n] = cap;
    b->n++;
    MAG_ST(b->bytes, b->bytes + cap);
    MAG_ST(b->objects, b->objects - 1);
    MAG_ST(b->live, b->live - cap);
    return true;
}

void big_note(struct heap *h, void *p)
{
    struct heap_front *f = heap_front(h);
    struct big_front *b = &f->big;
    size_t cap = list_capacity(p);
    if (cap > BIG_BYTES)
        return; /* never kept, so its free may as well take the lock */
    unsigned s = free_slot(b);
    if (s == BIG_OUT) {
        /* Evict one. Its block is live (every free drops its entry first),
         * and no free of it can be dropping the entry now: this CPU is
         * here, any other needs the lock this one holds. */
        s = b->hand++ % BIG_OUT;
        unowned(h, b->out[s]);
    }
    note_at(h, f, p, cap, s);
}

void big_unnote(struct heap *h, void *p)
{
    if (h->harden) /* the tag holds the slack then, and no front knows the block */
        return;
    uint64_t tag = MAG_LD(hdr_of(p)->tag);
    if ((uint32_t)tag != heap_check_word(h, p, HSTATE_ALLOC) || !big_forget(h, p, tag))
        heap_fail("krealloc of a freed list block", p);
    unowned(h, p);
}

bool big_forget(struct heap *h, void *p, uint64_t tag)
{
    UNUSED(h);
    /* The tag as checked, not read again: the owner may have won its
     * exchange since, and kept the block with a FREE tag and no owner bits;
     * a fresh read would take that for "no front holds it" and free the
     * block a second time. */
    unsigned cpu = (unsigned)(tag >> 32) & 0xff, s = (unsigned)(tag >> 40) & 0xff;
    if (!cpu)
        return true;
    if (cpu > SMP_MAX_CPUS || s >= BIG_OUT || tag >> 48)
        heap_fail("kfree of a list block whose header was overwritten", p);
    void *expect = p;
    return __atomic_compare_exchange_n(&heap_fronts[cpu - 1].big.out[s], &expect, NULL, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void big_miss(struct heap *h)
{
    struct big_front *b = &heap_front(h)->big;
    if (!b->n)
        return; /* nothing kept: no evidence either way */
    b->score = MAX(b->score - 2, -BIG_SCORE_MAX);
    if (b->score <= 0)
        big_drain(h); /* to the list, where the blocks merge */
}

size_t big_drain(struct heap *h)
{
    struct big_front *b = &heap_front(h)->big;
    size_t bytes = b->bytes;
    while (b->n)
        drop(h, b, b->n - 1);
    return bytes;
}

size_t big_kept_bytes(void)
{
    size_t n = 0;
    for (unsigned i = 0, ncpu = MIN(cpu_count(), (unsigned)SMP_MAX_CPUS); i < ncpu; i++)
        n += MAG_LD(heap_fronts[i].big.bytes);
    return n;
}

size_t big_objects(void)
{
    size_t n = 0;
    for (unsigned i = 0, ncpu = MIN(cpu_count(), (unsigned)SMP_MAX_CPUS); i < ncpu; i++)
        n += MAG_LD(heap_fronts[i].big.objects);
    return n;
}

#else /* the free checks compiled out: no check word, so no fronts */

void *big_take(struct heap *h, size_t size)
{
    UNUSED(h), UNUSED(size);
    return NULL;
}

bool big_put(struct heap *h, void *p)
{
    UNUSED(h), UNUSED(p);
    return false;
}

void big_note(struct heap *h, void *p) { UNUSED(h), UNUSED(p); }
void big_unnote(struct heap *h, void *p) { UNUSED(h), UNUSED(p); }

bool big_forget(struct heap *h, void *p, uint64_t tag)
{
    UNUSED(h), UNUSED(p), UNUSED(tag);
    return true;
}

void big_miss(struct heap *h) { UNUSED(h); }
size_t big_drain(struct heap *h)
{
    UNUSED(h);
    return 0;
}
size_t big_kept_bytes(void) { return 0; }
size_t big_objects(void) { return 0; }

#endif
