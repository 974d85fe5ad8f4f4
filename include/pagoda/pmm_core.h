/*
 * The portable core of the physical memory manager (src/mm/pmm_core*.c).
 *
 * A `struct pmm_core` manages one physical memory map with a hierarchical
 * bitmap whose memory the CALLER provides, so the same code runs in the
 * kernel (src/mm/pmm.c: one static instance, bitmap in RAM it chose), in the
 * host unit tests and in the benchmark (fake maps from 128 MiB to 256 GiB,
 * malloc'd bitmap). The core never touches frame contents.
 *
 * Using it over a fake map:
 *
 *     struct pmm_core c;
 *     size_t bytes = pmm_core_bitmap_bytes(map, n);
 *     void *mem = malloc(bytes);
 *     pmm_core_init(&c, map, n, mem, 0, bytes);   // 0: mem is not in the map
 *     paddr_t pa = pmm_core_alloc(&c, 1);          // 0 means failure
 *     pmm_core_free(&c, pa, 1);                    // 0 or -E_xxx
 *
 * A benchmark builds "a 4 GiB map with its lower half used" with one map
 * entry {0x100000, 4 GiB - 1 MiB, USABLE} and pmm_core_alloc(&c,
 * c.free_frames / 2). The core needs nothing from the kernel: link
 * src/mm/pmm_core.c and src/mm/pmm_core_init.c (they use memset/memmove
 * only; no printk, no panic).
 *
 * Not thread-safe: the caller serialises (the kernel's pmm.c under its
 * global PMM lock; no frame is allocated from interrupt handlers).
 */
#ifndef PAGODA_PMM_CORE_H
#define PAGODA_PMM_CORE_H

#include <pagoda/stivale2.h>
#include <pagoda/types.h>

#define PMM_MAX_LEVELS 8   /* 64^8 frames: far beyond any physical address */
#define PMM_MAX_RANGES 64  /* allocatable ranges kept for the free checks */
#define PMM_MAX_RECLAIM 32 /* bootloader-reclaimable ranges kept for later */

/* Frames below this are never handed out: frame 0 keeps NULL an error, and
 * the low 1 MiB stays with the BIOS (EBDA, real-mode IVT/BDA, AP trampolines). */
#define PMM_LOW_RESERVE MiB(1)
/* Memory-map entries above this (52-bit MAXPHYADDR) are ignored. */
#define PMM_PHYS_LIMIT (1ULL << 52)

struct pmm_frame_range {
    uint64_t first, end; /* frames [first, end) */
};

/* A bit set with summary levels: bit j of level[k+1] is set iff word j of
 * level[k] is non-zero, up to a one-word level[top]. find-next-set is
 * O(top) whatever the layout. */
struct pmm_tree {
    uint64_t *level[PMM_MAX_LEVELS];
    uint64_t nbits[PMM_MAX_LEVELS];
    unsigned top;
};

/* Run summaries work on groups of PMM_GROUP_FRAMES frames (64 level-0
 * words). A group's class c (0..PMM_RUN_CLASSES) is an upper bound on
 * floor(log2) of the longest free run that starts in the group, capped at
 * PMM_RUN_CLASSES; the top class also means "not known". */
#define PMM_GROUP_SHIFT 12
#define PMM_GROUP_FRAMES (1ULL << PMM_GROUP_SHIFT)
#define PMM_RUN_CLASSES 7 /* class 7: a run of 128 or more, or unknown */

struct pmm_core {
    /* level[0]: one bit per frame, SET = FREE. level[k+1]: one bit per word
     * of level[k], set iff that word is non-zero. level[top] is one word. */
    uint64_t *level[PMM_MAX_LEVELS];
    uint64_t nbits[PMM_MAX_LEVELS];
    unsigned top;
    /* full: one bit per level-0 word, set when all 64 frames are free
     * (runs of 127 frames or more always contain such a word); it may stay
     * set after one frame is taken, until a long-run search clears it. */
    struct pmm_tree full;
    /* run[c - 1], c = 1..PMM_RUN_CLASSES: one bit per group, set iff the
     * group's class is >= c. gclass[g] is group g's class. */
    struct pmm_tree run[PMM_RUN_CLASSES];
    uint8_t *gclass;
    /* quiet: one bit per group, set iff group g and the group before it
     * are both in the top class, so that a one-frame free there has no
     * class to lift (one bit test on the free fast path). */
    uint64_t *quiet;
    uint64_t ngroups;
    uint64_t nframes; /* frames covered: up to the highest usable byte */
    uint64_t hint;    /* level-0 word index; every word below it is 0 */
    uint64_t free_frames;
    uint64_t usable_frames; /* usable RAM in [0, nframes), incl. reclaimed */
    uint64_t lost_frames;   /* usable but dropped (too many ranges) */
    paddr_t bitmap_phys;    /* 0 when the bitmap is not in managed memory */
    size_t bitmap_bytes;    /* all levels, rounded up to whole pages */
    /* Frames the core may hand out (sorted, disjoint, non-adjacent): a free
     * must lie inside one of them, or it is a bad free. */
    unsigned nranges, last_range;
    struct pmm_frame_range ranges[PMM_MAX_RANGES];
    unsigned nreclaim;
    struct pmm_frame_range reclaim[PMM_MAX_RECLAIM];
};

/* Bytes of bitmap memory (page multiple) a core over this map needs; 0 when
 * the map has no usable memory. */
size_t pmm_core_bitmap_bytes(const struct stivale2_mmap_entry *map, size_t n);
/* Frames a core over this map covers (one past the highest usable frame). */
uint64_t pmm_core_frames(const struct stivale2_mmap_entry *map, size_t n);
/* A page-aligned physical address in usable memory, at or above 1 MiB and
 * ending at or below `limit`, where `bytes` of bitmap fit: the highest such
 * place (low memory stays for DMA). 0 if there is none. */
paddr_t pmm_core_place_bitmap(const struct stivale2_mmap_entry *map, size_t n, size_t bytes,
                              paddr_t limit);
/* Build the core over map[0..n) with the bitmap in `mem` (`bytes`, at least
 * pmm_core_bitmap_bytes; a caller may append its own data). If bitmap_phys
 * is not 0, the frames of all `bytes` are marked used. Entries may be unsorted and may overlap: anything not usable wins.
 * Returns 0, -E_INVAL (no usable memory) or -E_NOMEM (bytes too small). */
int pmm_core_init(struct pmm_core *c, const struct stivale2_mmap_entry *map, size_t n, void *mem,
                  paddr_t bitmap_phys, size_t bytes);
/* The bitmap now lives at `mem` (same contents, e.g. a new virtual mapping). */
void pmm_core_move(struct pmm_core *c, void *mem);

/* n contiguous free frames (lowest first fit): their physical address, or 0
 * for n == 0, impossible n or no such run. Never a partial run. */
paddr_t pmm_core_alloc(struct pmm_core *c, size_t n);
/* The same with a base that is a multiple of align frames (a power of two)
 * and the whole run below frame end_frame. 0 when impossible. */
paddr_t pmm_core_alloc_run(struct pmm_core *c, size_t n, size_t align, uint64_t end_frame);
/* Give back n frames at pa: 0, or -E_ALIGN (pa not page aligned), -E_RANGE
 * (n == 0 or past the map), -E_BADFREE (not all in allocatable memory),
 * -E_DOUBLE (some frame already free). On error nothing changes. */
int pmm_core_free(struct pmm_core *c, paddr_t pa, size_t n);
/* Is the frame holding pa free? */
bool pmm_core_is_free(const struct pmm_core *c, paddr_t pa);
/* Free the bootloader-reclaimable frames recorded at init (once; later calls
 * return 0). Returns the frames freed. */
uint64_t pmm_core_reclaim(struct pmm_core *c);
/* Can frames [first, first + n) ever be handed out (inside one range)? */
bool pmm_core_allocatable(struct pmm_core *c, uint64_t first, uint64_t n);
/* Walk the invariants (summary bits, counts, hint); 0 or -E_CORRUPT. O(map). */
int pmm_core_check(const struct pmm_core *c);

#endif
