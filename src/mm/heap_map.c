/*
 * The heap's page map: address -> span, with no hashing.
 *
 * Structure. A three-level radix tree keyed by the low 48 bits of an
 * address, shifted by CHUNK_SHIFT: 11 bits pick a mid node in the root (an
 * array in struct heap), 11 a leaf in the mid node, 11 an entry in the leaf.
 * A leaf entry names the span (struct chunk) that holds the 32 KiB unit, or
 * NULL, and carries a byte of per-page decommit bits for the release policy
 * (heap_release.c), and copies of the span's class (map_set) and fast word
 * (map_set_fast, whenever block_set_limits changes it), which kfree's fast
 * path reads instead of the descriptor; kheap_check compares them. Absent
 * nodes are the shared, all-empty map_empty_mid and map_empty_leaf, so a
 * walk is three dependent loads without a branch, and a pointer that was
 * never in a span finds NULL.
 *
 * Nodes (16 KiB mid, 36 KiB leaf) are made the first time a span or a
 * decommitted page needs them: the first mid node and leaf are static, the
 * others come from the list allocator. A leaf covers 64 MiB, so a heap of a
 * few hundred MiB holds a handful; kheap_trim frees those that map nothing.
 *
 * The window. A heap lives mostly in one region, so the first leaf made
 * anchors a window of MAP_WINDOW bytes at its 64 MiB boundary: h->win holds
 * the tree's own leaves for it (the empty leaf where there is none), and
 * chunk_of looks there first, two dependent loads instead of three (with
 * the tree's walk, the random mix took 10% longer). Until the anchor the
 * window covers only non-canonical addresses, which no heap pointer is, and
 * every entry is the empty leaf; the base is stored before any entry, and
 * an entry after its leaf is initialised, so a lookup racing the anchor
 * finds the tree's answer or nothing (no span exists before the first
 * leaf). The window never moves afterwards (a new kheap_init starts over).
 *
 * Cost: lookup O(1) (two loads in the window, three outside); map_set
 * O(units) plus a node allocation the first time a 64 MiB (leaf) or
 * 128 GiB (mid) region is touched. Weakness: each node is a list block of
 * its own, and only kheap_trim frees them.
 */
#include "heap_internal.h"

static struct hmap_leaf map_empty_leaf;
static struct hmap_mid map_empty_mid;
/* The first mid node and leaf are static: a heap within one 64 MiB region
 * (every small kernel heap) takes no node from itself, so the map changes
 * nothing in its layout. */
static struct hmap_mid map_mid0;
static struct hmap_leaf map_leaf0;
static bool mid0_used, leaf0_used;

static void *node_alloc(struct heap *h, size_t bytes, void *first, bool *first_used)
{
    if (!*first_used) {
        *first_used = true;
        return first;
    }
    return list_alloc(h, bytes, 16, 0);
}

static void node_free(struct heap *h, void *n, void *first, bool *first_used)
{
    if (n == first)
        *first_used = false;
    else
        list_free(h, n);
}

void map_init(struct heap *h)
{
    mid0_used = leaf0_used = false;
    memset(&map_empty_leaf, 0, sizeof(map_empty_leaf));
    for (unsigned i = 0; i < MAP_FAN; i++)
        map_empty_mid.leaf[i] = &map_empty_leaf;
    for (unsigned i = 0; i < MAP_FAN; i++)
        h->root[i] = &map_empty_mid;
    for (unsigned i = 0; i < MAP_FAN; i++)
        h->win[i] = &map_empty_leaf;
    /* Until the anchor, the window lies in the non-canonical hole: no
     * pointer that passed kfree's bounds check falls in it, so none is
     * looked up against the old base while the anchor is being set. */
    h->win_base = MAP_WIN_NONE;
    h->map_nodes = 0;
}

/* The window's slot for address a, or NULL outside it (for every heap
 * address before the anchor, whose base is MAP_WIN_NONE). */
static struct hmap_leaf **win_slot(struct heap *h, uintptr_t a)
{
    uintptr_t w = (a - h->win_base) / MAP_LEAF_BYTES;
    return w < MAP_FAN ? &h->win[w] : NULL;
}

struct hmap_leaf *map_leaf(struct heap *h, uintptr_t a, bool make)
{
    uintptr_t k = map_key((const void *)a);
    struct hmap_mid **mp = &h->root[k >> (2 * MAP_LEVEL_BITS)];
    if (*mp == &map_empty_mid) {
        if (!make)
            return NULL;
        struct hmap_mid *m = node_alloc(h, sizeof(*m), &map_mid0, &mid0_used);
        if (!m)
            return NULL;
        for (unsigned i = 0; i < MAP_FAN; i++)
            m->leaf[i] = &map_empty_leaf;
        __atomic_store_n(mp, m, __ATOMIC_RELEASE); /* kfree walks the map without the lock */
        h->map_nodes++;
    }
    struct hmap_leaf **lp = &(*mp)->leaf[(k >> MAP_LEVEL_BITS) & (MAP_FAN - 1)];
    if (*lp == &map_empty_leaf) {
        if (!make)
            return NULL;
        struct hmap_leaf *l = node_alloc(h, sizeof(*l), &map_leaf0, &leaf0_used);
        if (!l)
            return NULL;
        memset(l, 0, sizeof(*l));
        __atomic_store_n(lp, l, __ATOMIC_RELEASE);
        h->map_nodes++;
        if (h->win_base == MAP_WIN_NONE) /* the first leaf anchors the window (see the top) */
            __atomic_store_n(&h->win_base, ALIGN_DOWN(a, MAP_LEAF_BYTES), __ATOMIC_RELEASE);
        struct hmap_leaf **ws = win_slot(h, a);
        if (ws)
            __atomic_store_n(ws, l, __ATOMIC_RELEASE);
    }
    return *lp;
}

bool map_set(struct heap *h, uintptr_t base, uint32_t units, struct chunk *ch)
{
    /* Make every leaf first, so that a failure changes nothing. */
    for (uint32_t i = 0; i < units; i++)
        if (ch && !map_leaf(h, base + (uintptr_t)i * CHUNK_SIZE, true))
            return false;
    for (uint32_t i = 0; i < units; i++) {
        uintptr_t a = base + (uintptr_t)i * CHUNK_SIZE;
        struct hmap_leaf *l = map_leaf(h, a, false);
        if (l) {
            unsigned j = map_key((const void *)a) & (MAP_FAN - 1);
            MAG_ST(l->fast[j], 0); /* until map_set_fast: its frees take the slow path */
            MAG_ST(l->cls[j], ch ? (uint8_t)ch->cls : 0);
            MAG_ST(l->ch[j], ch);
        }
    }
    return true;
}

void map_set_fast(struct heap *h, const struct chunk *ch)
{
    /* The first unit's only: the short test covers one-unit spans, and the
     * other units' copies stay 0 from map_set, as the class copies stay
     * (a store of an unchanged value would still take the line from the
     * CPUs reading it). */
    struct hmap_leaf *l = map_leaf(h, ch->base, false);
    if (l) /* map_set made it */
        MAG_ST(l->fast[map_key((const void *)ch->base) & (MAP_FAN - 1)], MAG_LD(ch->fast_w));
}

bool map_unit_current(const struct heap *h, const struct chunk *ch, uint32_t u)
{
    uintptr_t k = map_key((const void *)(ch->base + (uintptr_t)u * CHUNK_SIZE));
    const struct hmap_leaf *l = map_leaf_of(h, k);
    unsigned j = k & (MAP_FAN - 1);
    return l->ch[j] == ch && l->cls[j] == ch->cls && l->fast[j] == (u == 0 ? ch->fast_w : 0);
}

/* Free every node that maps nothing (kheap_trim): a leaf with no span and no
 * decommitted page, then a mid node left with no leaf. */
void map_trim(struct heap *h)
{
    for (unsigned r = 0; r < MAP_FAN; r++) {
        struct hmap_mid *m = h->root[r];
        if (m == &map_empty_mid)
            continue;
        bool any = false;
        for (unsigned i = 0; i < MAP_FAN; i++) {
            struct hmap_leaf *l = m->leaf[i];
            if (l == &map_empty_leaf)
                continue;
            bool used = false;
            for (unsigned j = 0; j < MAP_FAN && !used; j++)
                used = l->ch[j] || l->dmask[j];
            if (used) {
                any = true;
                continue;
            }
            /* The leaf's address, canonical (keys drop bits 48-63). */
            uintptr_t k = ((uintptr_t)r << MAP_LEVEL_BITS | i) * MAP_LEAF_BYTES;
            uintptr_t a = (uintptr_t)((intptr_t)(k << (64 - MAP_VA_BITS)) >> (64 - MAP_VA_BITS));
            struct hmap_leaf **ws = win_slot(h, a);
            if (ws && *ws == l)
                __atomic_store_n(ws, &map_empty_leaf, __ATOMIC_RELEASE);
            m->leaf[i] = &map_empty_leaf;
            node_free(h, l, &map_leaf0, &leaf0_used);
            h->map_nodes--;
        }
        if (!any) {
            h->root[r] = &map_empty_mid;
            node_free(h, m, &map_mid0, &mid0_used);
            h->map_nodes--;
        }
    }
}
