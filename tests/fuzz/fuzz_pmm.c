/*
 * libFuzzer target for the PMM core. The input is a little program:
 *   byte 0: number of memory-map entries (mod 16), then the entries, 24 bytes
 *           each (u64 base, u64 length, u32 type, u32 unused) as stivale2 has;
 *           bases and lengths are folded below 64 MiB so runs stay fast;
 *   then 4-byte operations: alloc (count, alignment, limit), free of a live
 *   run, free of any address (must fail cleanly or be legal), reclaim.
 * Checked after every step: the core's own invariants (pmm_core_check), runs
 * lie in usable memory at or above 1 MiB and never overlap, a refused free
 * changes nothing, a reclaim frees nothing that a non-usable, non-reclaimable
 * entry covers, and the free count returns to its start at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagoda/errno.h>
#include <pagoda/pmm_core.h>

#include "fuzz_support.h"

#define MAX_LIVE 64

static uint64_t rd(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t types[] = {1, 2, 3, 4, 5, 0x1000, 0x1001, 0x1002, 77};
    struct stivale2_mmap_entry map[16];
    if (size < 1)
        return 0;
    size_t n = data[0] % 16, pos = 1;
    if (size < pos + n * 24)
        return 0;
    for (size_t i = 0; i < n; i++, pos += 24) {
        map[i].base = rd(data + pos, 8) % MiB(64);
        map[i].length = rd(data + pos + 8, 8) % MiB(64);
        map[i].type = types[rd(data + pos + 16, 4) % ARRAY_SIZE(types)];
        map[i].unused = 0;
    }
    static struct pmm_core c;
    size_t bytes = pmm_core_bitmap_bytes(map, n);
    void *mem = malloc(bytes ? bytes : 1);
    paddr_t at = pmm_core_place_bitmap(map, n, bytes, GiB(4));
    if (at)
        INVARIANT(at >= PMM_LOW_RESERVE && IS_ALIGNED(at, PAGE_SIZE));
    int err = pmm_core_init(&c, map, n, mem, at, bytes);
    if (err) {
        INVARIANT(err == -E_INVAL && bytes == 0);
        free(mem);
        return 0;
    }
    INVARIANT(pmm_core_check(&c) == 0);
    INVARIANT(c.free_frames <= c.usable_frames);
    uint64_t start = c.free_frames;
    struct {
        uint64_t f, n;
    } live[MAX_LIVE];
    int nlive = 0;
    bool reclaimed = false;

    for (; pos + 4 <= size; pos += 4) {
        uint8_t op = data[pos] % 8;
        uint64_t a = data[pos + 1], b = data[pos + 2], d = data[pos + 3];
        if (op < 4 && nlive < MAX_LIVE) { /* alloc */
            uint64_t cnt = op == 0 ? 1 : 1 + a * (b % 4 + 1);
            size_t align = (size_t)1 << (d % 10);
            uint64_t end = op == 3 ? (b << 8) + a : UINT64_MAX;
            uint64_t before = c.free_frames;
            paddr_t pa = op == 0 ? pmm_core_alloc(&c, 1) : pmm_core_alloc_run(&c, cnt, align, end);
            if (!pa) {
                INVARIANT(c.free_frames == before);
                continue;
            }
            uint64_t f = pa >> PAGE_SHIFT;
            INVARIANT(pa >= PMM_LOW_RESERVE && f + cnt <= c.nframes);
            if (op != 0)
                INVARIANT(f % align == 0 && f + cnt <= end);
            INVARIANT(pmm_core_allocatable(&c, f, cnt));
            INVARIANT(c.free_frames == before - cnt);
            for (int i = 0; i < nlive; i++)
                INVARIANT(f + cnt <= live[i].f || live[i].f + live[i].n <= f);
            live[nlive].f = f;
            live[nlive++].n = cnt;
        } else if (op < 6 && nlive) { /* free a live run */
            int i = (int)(a % (uint64_t)nlive);
            INVARIANT(pmm_core_free(&c, live[i].f << PAGE_SHIFT, live[i].n) == 0);
            live[i] = live[--nlive];
        } else if (op == 6) { /* free anything: legal only if the frame is ours */
            paddr_t pa = ((b << 16 | a << 8 | d) << 10) % (c.nframes * PAGE_SIZE + PAGE_SIZE);
            uint64_t before = c.free_frames;
            bool ours = false;
            for (int i = 0; i < nlive; i++)
                ours |= IS_ALIGNED(pa, PAGE_SIZE) && (pa >> PAGE_SHIFT) >= live[i].f &&
                        (pa >> PAGE_SHIFT) < live[i].f + live[i].n;
            if (ours)
                continue;
            INVARIANT(pmm_core_free(&c, pa, 1) < 0);
            INVARIANT(c.free_frames == before);
        } else if (op == 7) {
            uint64_t before = c.free_frames;
            uint64_t got = pmm_core_reclaim(&c);
            INVARIANT(c.free_frames == before + got);
            start += got;
            /* What is neither usable nor reclaimable stays used, overlaps or not
             * (checked once: later reclaims free nothing). */
            for (size_t i = 0; i < n && !reclaimed; i++) {
                if (map[i].type == STIVALE2_MMAP_USABLE ||
                    map[i].type == STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE)
                    continue;
                for (uint64_t a = ALIGN_DOWN(map[i].base, PAGE_SIZE);
                     a < map[i].base + map[i].length; a += PAGE_SIZE)
                    INVARIANT(!pmm_core_is_free(&c, a));
            }
            reclaimed = true;
        }
        INVARIANT(pmm_core_check(&c) == 0);
    }
    while (nlive--)
        INVARIANT(pmm_core_free(&c, live[nlive].f << PAGE_SHIFT, live[nlive].n) == 0);
    INVARIANT(c.free_frames == start);
    INVARIANT(pmm_core_check(&c) == 0);
    free(mem);
    return 0;
}
