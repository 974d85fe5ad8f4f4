/*
 * Memory-map normalisation: the Multiboot2 map in, the stivale2 map out.
 *
 * Theory of operation. Input ranges (ctx->in, from the EFI memory-map tag,
 * else the memory-map tag, else the basic meminfo) and carve-outs (ctx->carve: the kernel image and modules as
 * KERNEL_AND_MODULES, the info block as BOOTLOADER_RECLAIMABLE, a framebuffer
 * over RAM as FRAMEBUFFER) are held as [base, last] with `last` inclusive, so
 * a range may end exactly at 2^64. Every range start and every `last + 1`
 * becomes a boundary point; sorted and deduplicated, consecutive points cut
 * the address space into elementary intervals over which coverage does not
 * change. Each interval takes the most restrictive type among the input
 * ranges covering it (bad > ACPI NVS > reserved > ACPI reclaimable >
 * usable); where that is usable, carve-outs covering it win (kernel and
 * modules > framebuffer > bootloader reclaimable). Carve-outs never create
 * memory in a hole. Neighbouring intervals of one type merge; usable and
 * bootloader-reclaimable entries then shrink inwards to 4 KiB boundaries.
 *
 * Invariants of the output (mb2_memmap_verify checks them): entries sorted by
 * base, non-empty and disjoint, of a known type, usable and bootloader-
 * reclaimable entries page-aligned, and no two touching entries of one type.
 *
 * Cost: P = 2 * (inputs + carves) points; sorting is insertion sort, O(P^2),
 * and typing the intervals is O(P * (inputs + carves)): about 150k steps at
 * full capacity, nothing for the dozen entries firmware gives.
 * Weaknesses: capacities are fixed (MB2_MAX_INPUT in, MB2_MAX_MEMMAP out;
 * the excess is reported and dropped, so memory may go unused but is never
 * misreported); a carve-out rounds outwards to whole pages, so the page it
 * shares with usable RAM is lost to the allocator.
 */
#include "mb2_internal.h"

#define U64_MAX UINT64_MAX

/* How restrictive a type is: the larger wins where ranges overlap. */
static unsigned rank(uint32_t type)
{
    switch (type) {
    case STIVALE2_MMAP_USABLE:
        return 0;
    case STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE:
        return 1;
    case STIVALE2_MMAP_FRAMEBUFFER:
        return 2;
    case STIVALE2_MMAP_KERNEL_AND_MODULES:
        return 3;
    case STIVALE2_MMAP_ACPI_RECLAIMABLE:
        return 4;
    case STIVALE2_MMAP_RESERVED:
        return 5;
    case STIVALE2_MMAP_ACPI_NVS:
        return 6;
    case STIVALE2_MMAP_BAD_MEMORY:
        return 7;
    default:
        return 5;
    }
}

static uint32_t mb2_type(struct mb2_ctx *ctx, unsigned i, uint32_t type)
{
    switch (type) {
    case 1:
        return STIVALE2_MMAP_USABLE;
    case 2:
        return STIVALE2_MMAP_RESERVED;
    case 3:
        return STIVALE2_MMAP_ACPI_RECLAIMABLE;
    case 4:
        return STIVALE2_MMAP_ACPI_NVS;
    case 5:
        return STIVALE2_MMAP_BAD_MEMORY;
    default:
        mb2_report_tag(ctx, MB2_TAG_MMAP, "entry %u has unknown type %u: taken as reserved", i,
                       type);
        return STIVALE2_MMAP_RESERVED;
    }
}

static void add_input(struct mb2_ctx *ctx, uint64_t base, uint64_t last, uint32_t type)
{
    ctx->in[ctx->nin++] = (struct mb2_range){base, last, type};
}

static void collect_tag(struct mb2_ctx *ctx)
{
    const uint8_t *t = ctx->mbi + ctx->found.memmap;
    uint32_t size = mb2_rd32(t + 4), esize = mb2_rd32(t + 8);

    if (esize < 24 || esize % 8) {
        mb2_report_tag(ctx, MB2_TAG_MMAP,
                       "entry_size %u is below 24 or not a multiple of 8: tag ignored", esize);
        return;
    }
    uint32_t n = (size - 16) / esize, rest = (size - 16) % esize;
    if (rest)
        mb2_report_tag(ctx, MB2_TAG_MMAP, "%u trailing bytes after %u entries ignored", rest, n);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = t + 16 + (uint64_t)i * esize; /* by entry_size, never 24 */
        uint64_t base = mb2_rd64(e), len = mb2_rd64(e + 8);
        uint32_t type = mb2_rd32(e + 16);
        if (len == 0) {
            mb2_report_tag(ctx, MB2_TAG_MMAP, "entry %u (base 0x%llx) is empty: dropped", i,
                           (unsigned long long)base);
            continue;
        }
        uint64_t last = base + (len - 1);
        if (last < base) {
            mb2_report_tag(ctx, MB2_TAG_MMAP,
                           "entry %u (base 0x%llx length 0x%llx) wraps past 2^64: clipped", i,
                           (unsigned long long)base, (unsigned long long)len);
            last = U64_MAX;
        }
        if (ctx->nin == MB2_MAX_INPUT) {
            mb2_report_tag(ctx, MB2_TAG_MMAP, "more than %u entries: entry %u on are ignored",
                           MB2_MAX_INPUT, i);
            return;
        }
        add_input(ctx, base, last, mb2_type(ctx, i, type));
    }
}

/* UEFI memory types (UEFI spec, EFI_MEMORY_TYPE) and the attribute bit of
 * memory the firmware's runtime services keep using. */
#define EFI_LOADER_CODE 1
#define EFI_LOADER_DATA 2
#define EFI_BOOT_SERVICES_CODE 3
#define EFI_BOOT_SERVICES_DATA 4
#define EFI_CONVENTIONAL 7
#define EFI_UNUSABLE 8
#define EFI_ACPI_RECLAIM 9
#define EFI_ACPI_NVS 10
#define EFI_MEMORY_RUNTIME (1ULL << 63)
#define EFI_DESC_MIN 40 /* type, pad, physical, virtual, pages, attribute */

/* GRUB has called ExitBootServices before the kernel runs, so loader and
 * boot-services memory is free RAM like conventional memory. Runtime-
 * services memory (types 5 and 6, or any range with the RUNTIME attribute)
 * stays reserved, as do MMIO, persistent and unknown types. */
static uint32_t efi_type(uint32_t type, uint64_t attr)
{
    if (attr & EFI_MEMORY_RUNTIME)
        return STIVALE2_MMAP_RESERVED;
    switch (type) {
    case EFI_LOADER_CODE:
    case EFI_LOADER_DATA:
    case EFI_BOOT_SERVICES_CODE:
    case EFI_BOOT_SERVICES_DATA:
    case EFI_CONVENTIONAL:
        return STIVALE2_MMAP_USABLE;
    case EFI_UNUSABLE:
        return STIVALE2_MMAP_BAD_MEMORY;
    case EFI_ACPI_RECLAIM:
        return STIVALE2_MMAP_ACPI_RECLAIMABLE;
    case EFI_ACPI_NVS:
        return STIVALE2_MMAP_ACPI_NVS;
    default:
        return STIVALE2_MMAP_RESERVED;
    }
}

/* The EFI memory map (tag 17), stepping by descriptor_size (48 on OVMF,
 * never the C struct's size). Firmware splits RAM into many descriptors
 * (OVMF gives over a hundred for 256 MiB), so touching descriptors of one
 * resulting type merge as they are read, to stay within MB2_MAX_INPUT. */
static void collect_efi(struct mb2_ctx *ctx)
{
    const uint8_t *t = ctx->mbi + ctx->found.efi_mmap;
    uint32_t size = mb2_rd32(t + 4), dsize = mb2_rd32(t + 8);
    if (dsize < EFI_DESC_MIN || dsize % 8) {
        mb2_report_tag(ctx, MB2_TAG_EFI_MMAP,
                       "descriptor_size %u is below 40 or not a multiple of 8: tag ignored", dsize);
        return;
    }
    uint32_t n = (size - 16) / dsize;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = t + 16 + (uint64_t)i * dsize;
        uint64_t base = mb2_rd64(e + 8), pages = mb2_rd64(e + 24);
        uint32_t type = efi_type(mb2_rd32(e), mb2_rd64(e + 32));
        if (pages == 0)
            continue;
        uint64_t last = base + ((pages - 1) << PAGE_SHIFT) + PAGE_MASK;
        if (pages > (U64_MAX >> PAGE_SHIFT) || last < base) {
            mb2_report_tag(ctx, MB2_TAG_EFI_MMAP,
                           "descriptor %u (base 0x%llx, %llu pages) wraps past 2^64: clipped", i,
                           (unsigned long long)base, (unsigned long long)pages);
            last = U64_MAX;
        }
        ctx->efi_descriptors++;
        struct mb2_range *prev = ctx->nin ? &ctx->in[ctx->nin - 1] : NULL;
        if (prev && prev->type == type && prev->last != U64_MAX && prev->last + 1 == base) {
            prev->last = last;
            continue;
        }
        if (ctx->nin == MB2_MAX_INPUT) {
            mb2_report_tag(ctx, MB2_TAG_EFI_MMAP,
                           "more than %u ranges: descriptor %u on are ignored", MB2_MAX_INPUT, i);
            return;
        }
        add_input(ctx, base, last, type);
    }
}

bool mb2_memmap_collect(struct mb2_ctx *ctx)
{
    /* The EFI map first: it is the firmware's own, taken at
     * ExitBootServices; GRUB's tag 6 is a conversion of an earlier one, with
     * GRUB-internal types (20) for what it could not name. */
    if (ctx->found.efi_mmap)
        collect_efi(ctx);
    if (ctx->nin > 0)
        return true;
    ctx->efi_descriptors = 0;
    if (ctx->found.memmap)
        collect_tag(ctx);
    if (ctx->nin > 0)
        return true;
    if (!ctx->found.meminfo) {
        mb2_report(ctx, "memmap: no memory-map tag with an entry and no basic meminfo tag");
        return false;
    }
    const uint8_t *t = ctx->mbi + ctx->found.meminfo;
    uint64_t lower = KiB(mb2_rd32(t + 8)), upper = KiB(mb2_rd32(t + 12));
    mb2_report(ctx, "memmap: %s: built from the basic meminfo (lower %llu KiB, upper %llu KiB)",
               ctx->found.memmap ? "the memory-map tag is unusable" : "no memory-map tag",
               (unsigned long long)(lower >> 10), (unsigned long long)(upper >> 10));
    ctx->memmap_from_meminfo = true;
    if (lower)
        add_input(ctx, 0, lower - 1, STIVALE2_MMAP_USABLE);
    if (upper)
        add_input(ctx, MiB(1), MiB(1) + upper - 1, STIVALE2_MMAP_USABLE);
    if (ctx->nin == 0)
        mb2_report(ctx, "memmap: the basic meminfo reports no memory");
    return ctx->nin > 0;
}

bool mb2_memmap_covers(const struct mb2_ctx *ctx, uint64_t base, uint64_t end)
{
    if (end <= base)
        return true;
    /* A more restrictive entry over any of it wins in the normalised map, so
     * that part is not RAM, whatever usable entry lies under it. */
    for (unsigned i = 0; i < ctx->nin; i++)
        if (ctx->in[i].type != STIVALE2_MMAP_USABLE && ctx->in[i].base <= end - 1 &&
            ctx->in[i].last >= base)
            return false;
    uint64_t pos = base;
    /* Each step moves pos past the end of one input range: at most nin steps. */
    for (unsigned step = 0; step <= ctx->nin; step++) {
        bool advanced = false;
        for (unsigned i = 0; i < ctx->nin; i++) {
            const struct mb2_range *r = &ctx->in[i];
            if (r->type != STIVALE2_MMAP_USABLE || pos < r->base || pos > r->last)
                continue;
            if (r->last >= end - 1)
                return true;
            pos = r->last + 1;
            advanced = true;
            break;
        }
        if (!advanced)
            return false;
    }
    return false;
}

void mb2_memmap_carve(struct mb2_ctx *ctx, uint64_t base, uint64_t end, uint32_t type)
{
    if (end <= base)
        return;
    if (ctx->ncarve == MB2_MAX_CARVES) {
        mb2_report(ctx, "memmap: more than %u carve-outs: [0x%llx, 0x%llx) not carved",
                   MB2_MAX_CARVES, (unsigned long long)base, (unsigned long long)end);
        return;
    }
    uint64_t last = end > U64_MAX - PAGE_MASK ? U64_MAX : ALIGN_UP(end, PAGE_SIZE) - 1;
    ctx->carve[ctx->ncarve++] = (struct mb2_range){ALIGN_DOWN(base, PAGE_SIZE), last, type};
}

static void add_point(struct mb2_ctx *ctx, unsigned *np, const struct mb2_range *r)
{
    ctx->points[(*np)++] = r->base;
    if (r->last != U64_MAX)
        ctx->points[(*np)++] = r->last + 1;
}

/* Sort and deduplicate the points; returns the new count. */
static unsigned sort_points(uint64_t *p, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        uint64_t v = p[i];
        unsigned j = i;
        for (; j > 0 && p[j - 1] > v; j--)
            p[j] = p[j - 1];
        p[j] = v;
    }
    unsigned u = 0;
    for (unsigned i = 0; i < n; i++)
        if (u == 0 || p[u - 1] != p[i])
            p[u++] = p[i];
    return u;
}

static bool covers_point(const struct mb2_range *r, uint64_t p)
{
    return r->base <= p && p <= r->last;
}

/* Shrink usable and bootloader-reclaimable entries to whole pages, then
 * append (an entry with no whole page vanishes). */
static void emit(struct mb2_ctx *ctx, struct mb2_range r, bool *overflowed)
{
    struct mb2_memmap_store *m = &ctx->memmap;

    if (r.base == 0 && r.last == U64_MAX)
        r.last = U64_MAX - 1; /* 2^64 bytes do not fit a length */
    if (r.type == STIVALE2_MMAP_USABLE || r.type == STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE) {
        if (r.base > U64_MAX - PAGE_MASK)
            return;
        uint64_t base = ALIGN_UP(r.base, PAGE_SIZE), last = U64_MAX; /* 2^64 is aligned */
        if (r.last != U64_MAX) {
            uint64_t end = ALIGN_DOWN(r.last + 1, PAGE_SIZE);
            if (end <= base)
                return;
            last = end - 1;
        }
        r.base = base;
        r.last = last;
    }
    if (m->entries == MB2_MAX_MEMMAP) {
        if (!*overflowed)
            mb2_report(ctx, "memmap: more than %u entries: the ones from 0x%llx on are dropped",
                       MB2_MAX_MEMMAP, (unsigned long long)r.base);
        *overflowed = true;
        return;
    }
    m->memmap[m->entries++] = (struct stivale2_mmap_entry){r.base, r.last - r.base + 1, r.type, 0};
}

void mb2_memmap_build(struct mb2_ctx *ctx)
{
    unsigned np = 0;
    for (unsigned i = 0; i < ctx->nin; i++)
        add_point(ctx, &np, &ctx->in[i]);
    for (unsigned i = 0; i < ctx->ncarve; i++)
        add_point(ctx, &np, &ctx->carve[i]);
    np = sort_points(ctx->points, np);

    ctx->memmap.entries = 0;
    bool have = false, overflowed = false;
    struct mb2_range cur = {0, 0, 0};
    for (unsigned k = 0; k < np; k++) {
        uint64_t p = ctx->points[k];
        uint64_t last = k + 1 < np ? ctx->points[k + 1] - 1 : U64_MAX;
        int best = -1;
        uint32_t type = 0;
        for (unsigned i = 0; i < ctx->nin; i++) {
            if (covers_point(&ctx->in[i], p) && (int)rank(ctx->in[i].type) > best) {
                best = (int)rank(ctx->in[i].type);
                type = ctx->in[i].type;
            }
        }
        if (best < 0)
            continue; /* a hole: carve-outs never create memory */
        if (type == STIVALE2_MMAP_USABLE) {
            for (unsigned i = 0; i < ctx->ncarve; i++) {
                if (covers_point(&ctx->carve[i], p) && (int)rank(ctx->carve[i].type) > best) {
                    best = (int)rank(ctx->carve[i].type);
                    type = ctx->carve[i].type;
                }
            }
        }
        if (have && cur.type == type && cur.last != U64_MAX && cur.last + 1 == p) {
            cur.last = last;
            continue;
        }
        if (have)
            emit(ctx, cur, &overflowed);
        cur = (struct mb2_range){p, last, type};
        have = true;
    }
    if (have)
        emit(ctx, cur, &overflowed);
}

static bool known_type(uint32_t type)
{
    return (type >= STIVALE2_MMAP_USABLE && type <= STIVALE2_MMAP_BAD_MEMORY) ||
           (type >= STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE && type <= STIVALE2_MMAP_FRAMEBUFFER);
}

const char *mb2_memmap_verify(const struct stivale2_struct_tag_memmap *m)
{
    for (uint64_t i = 0; i < m->entries; i++) {
        const struct stivale2_mmap_entry *e = &m->memmap[i];
        if (e->length == 0)
            return "an entry is empty";
        if (e->base + (e->length - 1) < e->base)
            return "an entry wraps past 2^64";
        if (!known_type(e->type))
            return "an entry has an unknown type";
        if ((e->type == STIVALE2_MMAP_USABLE || e->type == STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE) &&
            (!IS_ALIGNED(e->base, PAGE_SIZE) || !IS_ALIGNED(e->length, PAGE_SIZE)))
            return "a usable or bootloader-reclaimable entry is not 4 KiB aligned";
        if (i == 0)
            continue;
        const struct stivale2_mmap_entry *prev = &m->memmap[i - 1];
        uint64_t prev_last = prev->base + (prev->length - 1);
        if (e->base <= prev_last)
            return "entries are unsorted or overlap";
        if (prev->type == e->type && prev_last + 1 == e->base)
            return "touching entries of one type are not merged";
    }
    return NULL;
}
