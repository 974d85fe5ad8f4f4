/*
 * Host tests of the Multiboot2 -> stivale2 adapter: hand-built Multiboot2
 * blobs in, the exact normalised map and tags out, and every malformed case
 * reported with its tag and reason.
 */
#include "harness.h"
#include "mb2_blob.h"

#include <stdlib.h>
#include <string.h>

#include <pagoda/errno.h>
#include <pagoda/mb2.h>

#define U 1   /* STIVALE2_MMAP_USABLE */
#define R 2   /* RESERVED */
#define A 3   /* ACPI_RECLAIMABLE */
#define N 4   /* ACPI_NVS */
#define BAD 5 /* BAD_MEMORY */
#define BR 0x1000
#define KM 0x1001
#define FB 0x1002

static struct blob blob;
static struct mb2_ctx ctx;

/* The kernel image and info block where GRUB put them in a real boot. */
static struct mb2_env env = {
    .kernel_phys_start = 0x100000,
    .kernel_phys_end = 0x10F000,
    .kernel_virt_base = 0xffffffff80100000ULL,
    .info_phys = 0x10F458,
};

struct exp {
    uint64_t base, length;
    uint32_t type;
};

static int adapt(void)
{
    return mb2_adapt(&ctx, blob.buf, blob.len, &env);
}

static void *tag(uint64_t id)
{
    return stivale2_get_tag(&ctx.info, id);
}

static struct stivale2_struct_tag_memmap *memmap(void)
{
    return tag(STIVALE2_STRUCT_TAG_MEMMAP_ID);
}

static void dump(void)
{
    struct stivale2_struct_tag_memmap *m = memmap();
    for (uint64_t i = 0; m && i < m->entries; i++)
        printf("  got base=0x%llx length=0x%llx type=%s\n", (unsigned long long)m->memmap[i].base,
               (unsigned long long)m->memmap[i].length, stivale2_mmap_type_name(m->memmap[i].type));
    for (unsigned i = 0; i < ctx.nlog; i++)
        printf("  log: %s\n", ctx.log[i]);
}

/* The map is exactly `e` and satisfies the invariants. */
static bool map_is(const struct exp *e, size_t n)
{
    struct stivale2_struct_tag_memmap *m = memmap();
    bool ok = m && m->entries == n && mb2_memmap_verify(m) == NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = m->memmap[i].base == e[i].base && m->memmap[i].length == e[i].length &&
             m->memmap[i].type == e[i].type;
    if (!ok && !getenv("HTEST_QUIET"))
        dump();
    return ok;
}
#define MAP_IS(...)                                                                                \
    map_is((const struct exp[]){__VA_ARGS__},                                                      \
           sizeof((const struct exp[]){__VA_ARGS__}) / sizeof(struct exp))

/* Some problem line contains both `a` and `b`. */
static bool logged(const char *a, const char *b)
{
    for (unsigned i = 0; i < ctx.nlog; i++)
        if (strstr(ctx.log[i], a) && strstr(ctx.log[i], b))
            return true;
    if (!getenv("HTEST_QUIET"))
        dump();
    return false;
}

static void grub_prologue(void)
{
    blob_init(&blob);
    blob_string(&blob, 1, "test=mb2_ fault=none");
    blob_string(&blob, 2, "GRUB 2.06-13+deb12u2");
}

HTEST(mb2_qemu_seabios_map)
{
    grub_prologue();
    blob_module(&blob, 0x110000, 0x111234, "a.bin");
    blob_module(&blob, 0x112000, 0x112800, "b.bin");
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_meminfo(&blob, 639, 130048);
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK_EQ(ctx.nproblems, 0);
    CHECK(MAP_IS({0x0, 0x9F000, U}, {0x9FC00, 0x400, R}, {0xF0000, 0x10000, R},
                 {0x100000, 0xF000, KM}, {0x10F000, 0x1000, BR}, {0x110000, 0x3000, KM},
                 {0x113000, 0x7ECD000, U}, {0x7FE0000, 0x20000, R}, {0xFFFC0000, 0x40000, R},
                 {0xFD00000000, 0x300000000, R}));
    CHECK(strcmp(ctx.info.bootloader_brand, "GRUB") == 0);
    CHECK(strcmp(ctx.info.bootloader_version, "2.06-13+deb12u2") == 0);
    struct stivale2_struct_tag_cmdline *c = tag(STIVALE2_STRUCT_TAG_CMDLINE_ID);
    CHECK(c && strcmp((const char *)(uintptr_t)c->cmdline, "test=mb2_ fault=none") == 0);
    /* The result must not point into the info block. */
    CHECK((uintptr_t)c->cmdline < (uintptr_t)blob.buf ||
          (uintptr_t)c->cmdline >= (uintptr_t)blob.buf + sizeof(blob.buf));
    struct stivale2_struct_tag_modules *mt = tag(STIVALE2_STRUCT_TAG_MODULES_ID);
    CHECK(mt && mt->module_count == 2);
    CHECK_EQ(mt->modules[0].begin, 0x110000);
    CHECK_EQ(mt->modules[0].end, 0x111234);
    CHECK(strcmp(mt->modules[0].string, "a.bin") == 0);
    CHECK_EQ(mt->modules[1].begin, 0x112000);
    CHECK(strcmp(mt->modules[1].string, "b.bin") == 0);
    struct stivale2_struct_tag_firmware *fw = tag(STIVALE2_STRUCT_TAG_FIRMWARE_ID);
    CHECK(fw && fw->flags == STIVALE2_FIRMWARE_BIOS);
    struct stivale2_struct_tag_kernel_base_address *kb =
        tag(STIVALE2_STRUCT_TAG_KERNEL_BASE_ADDRESS_ID);
    CHECK(kb && kb->physical_base_address == 0x100000 &&
          kb->virtual_base_address == 0xffffffff80100000ULL);
    CHECK(tag(STIVALE2_STRUCT_TAG_RSDP_ID) == NULL);
    CHECK(tag(STIVALE2_STRUCT_TAG_EPOCH_ID) == NULL);
}

HTEST(mb2_q35_map_above_4g)
{
    static const struct mb2_in_entry q35[] = {
        {0x0, 0x9FC00, 1},
        {0x9FC00, 0x400, 2},
        {0xF0000, 0x10000, 2},
        {0x100000, 0x7FEE0000, 1},
        {0x7FFE0000, 0x20000, 2},
        {0xB0000000, 0x10000000, 2},
        {0xFED1C000, 0x4000, 2},
        {0xFFFC0000, 0x40000, 2},
        {0x100000000, 0x80000000, 1},
        {0xFD00000000, 0x300000000, 2},
    };
    grub_prologue();
    blob_mmap(&blob, 24, q35, ARRAY_SIZE(q35));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK_EQ(ctx.nproblems, 0);
    CHECK(MAP_IS({0x0, 0x9F000, U}, {0x9FC00, 0x400, R}, {0xF0000, 0x10000, R},
                 {0x100000, 0xF000, KM}, {0x10F000, 0x1000, BR}, {0x110000, 0x7FED0000, U},
                 {0x7FFE0000, 0x20000, R}, {0xB0000000, 0x10000000, R}, {0xFED1C000, 0x4000, R},
                 {0xFFFC0000, 0x40000, R}, {0x100000000, 0x80000000, U},
                 {0xFD00000000, 0x300000000, R}));
}

HTEST(mb2_bochs_map)
{
    static const struct mb2_in_entry bochs[] = {
        {0x0, 0x9F000, 1},        {0x9F000, 0x1000, 2},    {0xE8000, 0x18000, 2},
        {0x100000, 0x7EF0000, 1}, {0x7FF0000, 0x10000, 3}, {0xFFFC0000, 0x40000, 2},
    };
    grub_prologue();
    blob_mmap(&blob, 24, bochs, ARRAY_SIZE(bochs));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(MAP_IS({0x0, 0x9F000, U}, {0x9F000, 0x1000, R}, {0xE8000, 0x18000, R},
                 {0x100000, 0xF000, KM}, {0x10F000, 0x1000, BR}, {0x110000, 0x7EE0000, U},
                 {0x7FF0000, 0x10000, A}, {0xFFFC0000, 0x40000, R}));
}

HTEST(mb2_overlapping_unsorted_unaligned)
{
    static const struct mb2_in_entry in[] = {
        {0x500123, 0x100EDD, 1},                       /* unaligned at both ends */
        {0x300000, 0x1000, 2},                         /* reserved inside usable */
        {0x200000, 0x200000, 1}, {0x380800, 0x100, 5}, /* bad memory, unaligned */
        {0x3FF000, 0x2000, 3},                         /* ACPI over the end of usable */
        {0x401000, 0x1000, 1},   {0x3FF800, 0x100, 4}, /* NVS inside ACPI reclaimable */
    };
    grub_prologue();
    blob_mmap(&blob, 24, in, ARRAY_SIZE(in));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(MAP_IS({0x200000, 0x100000, U}, {0x300000, 0x1000, R}, {0x301000, 0x7F000, U},
                 {0x380800, 0x100, BAD}, {0x381000, 0x7E000, U}, {0x3FF000, 0x800, A},
                 {0x3FF800, 0x100, N}, {0x3FF900, 0x1700, A}, {0x401000, 0x1000, U},
                 {0x501000, 0x100000, U}));
}

HTEST(mb2_unknown_zero_and_merge)
{
    static const struct mb2_in_entry in[] = {
        {0x200000, 0x1000, 1}, {0x201000, 0x1000, 1}, /* adjacent: merge */
        {0x202000, 0x0, 2},                           /* empty: dropped */
        {0x300000, 0x1000, 7}, {0x301000, 0x1000, 2}, /* unknown 7 -> reserved, merged */
        {0x400000, 0x1000, 1}, {0x400000, 0x1000, 1}, /* duplicate entry */
    };
    grub_prologue();
    blob_mmap(&blob, 24, in, ARRAY_SIZE(in));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(MAP_IS({0x200000, 0x2000, U}, {0x300000, 0x2000, R}, {0x400000, 0x1000, U}));
    CHECK(logged("tag 6 (memory map)", "unknown type 7"));
    CHECK(logged("tag 6 (memory map)", "empty"));
}

HTEST(mb2_top_of_64bit_range)
{
    static const struct mb2_in_entry in[] = {
        {0x100000000, 0x40000000, 1},
        {0xFFFFFFFFFFFFF000, 0x1000, 2},  /* ends exactly at 2^64 */
        {0xFFFFFFFFFFFF0000, 0x20000, 1}, /* wraps: clipped */
    };
    grub_prologue();
    blob_mmap(&blob, 24, in, ARRAY_SIZE(in));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(MAP_IS({0x100000000, 0x40000000, U}, {0xFFFFFFFFFFFF0000, 0xF000, U},
                 {0xFFFFFFFFFFFFF000, 0x1000, R}));
    CHECK(logged("tag 6 (memory map)", "wraps past 2^64: clipped"));
}

HTEST(mb2_top_unaligned_and_whole_range)
{
    static const struct mb2_in_entry in[] = {
        {0xFFFFFFFFFFFFE800, 0x1800, 1}, /* up to 2^64, unaligned start */
        {0x0, 0x8000000000000000, 2},
        {0x8000000000000000, 0x7FFFFFFFFFFFE000, 2}, /* with the first: 0 .. 2^64 - 8K */
    };
    grub_prologue();
    blob_mmap(&blob, 24, in, ARRAY_SIZE(in));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(MAP_IS({0x0, 0xFFFFFFFFFFFFE000, R}, {0xFFFFFFFFFFFFF000, 0x1000, U}));
}

HTEST(mb2_entry_size_24_32_48)
{
    static const uint32_t sizes[] = {24, 32, 48};
    for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
        grub_prologue();
        blob_mmap(&blob, sizes[s], blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
        blob_end(&blob);
        CHECK_EQ(adapt(), 0);
        CHECK_EQ(ctx.nproblems, 0);
        CHECK(MAP_IS({0x0, 0x9F000, U}, {0x9FC00, 0x400, R}, {0xF0000, 0x10000, R},
                     {0x100000, 0xF000, KM}, {0x10F000, 0x1000, BR}, {0x110000, 0x7ED0000, U},
                     {0x7FE0000, 0x20000, R}, {0xFFFC0000, 0x40000, R},
                     {0xFD00000000, 0x300000000, R}));
    }
}

HTEST(mb2_modules_next_to_and_inside_kernel)
{
    env.info_phys = 0x300000;
    grub_prologue();
    blob_module(&blob, 0x10F000, 0x110000, "next");   /* right after the kernel */
    blob_module(&blob, 0x104000, 0x104800, "inside"); /* inside the kernel image */
    blob_module(&blob, 0x0FF000, 0x100000, "before"); /* right before it */
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    int r = adapt();
    env.info_phys = 0x10F458;
    CHECK_EQ(r, 0);
    CHECK(MAP_IS({0x0, 0x9F000, U}, {0x9FC00, 0x400, R}, {0xF0000, 0x10000, R},
                 {0x100000, 0x10000, KM}, {0x110000, 0x1F0000, U}, {0x300000, 0x1000, BR},
                 {0x301000, 0x7CDF000, U}, {0x7FE0000, 0x20000, R}, {0xFFFC0000, 0x40000, R},
                 {0xFD00000000, 0x300000000, R}));
    struct stivale2_struct_tag_modules *mt = tag(STIVALE2_STRUCT_TAG_MODULES_ID);
    CHECK(mt && mt->module_count == 2);
    CHECK(logged("\"inside\"", "overlaps the kernel image"));
    /* "before" sits in 0xF0000..0x100000, which is reserved: not RAM. */
    CHECK(logged("\"before\"", "outside RAM"));
}

HTEST(mb2_module_malformed)
{
    grub_prologue();
    blob_module(&blob, 0x200000, 0x1FF000, "backwards");
    blob_module(&blob, 0x9000000, 0x9001000, "beyond");
    blob_tag(&blob, 3, 24, "\x00\x00\x30\x00\x00\x10\x30\x00nonulnon"); /* string with no NUL */
    blob_module(&blob, 0x400000, 0x400000, "empty");
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 3 (module)", "\"backwards\" ends (0x1ff000) before it starts (0x200000)"));
    CHECK(logged("tag 3 (module)", "\"beyond\" [0x9000000, 0x9001000) is outside RAM"));
    CHECK(logged("tag 3 (module)", "has no NUL"));
    struct stivale2_struct_tag_modules *mt = tag(STIVALE2_STRUCT_TAG_MODULES_ID);
    CHECK(mt && mt->module_count == 1 && strcmp(mt->modules[0].string, "empty") == 0);
    CHECK(mb2_memmap_verify(memmap()) == NULL);
}

/* RAM means RAM in the normalised map: a usable input entry that a more
 * restrictive one overlaps is not RAM there, so a module in that overlap is
 * outside RAM, as the kernel image check says too. */
HTEST(mb2_module_over_reserved_inside_usable)
{
    static const struct mb2_in_entry in[] = {
        {0x0, 0x9FC00, 1},
        {0x100000, 0x7F00000, 1},
        {0x400000, 0x100000, 2}, /* reserved inside the usable entry */
    };
    env.info_phys = 0x300000;
    grub_prologue();
    blob_module(&blob, 0x400000, 0x401000, "in-reserved");
    blob_module(&blob, 0x4FF000, 0x501000, "straddles");
    blob_module(&blob, 0x600000, 0x601000, "fine");
    blob_mmap(&blob, 24, in, ARRAY_SIZE(in));
    blob_end(&blob);
    int r = adapt();
    env.info_phys = 0x10F458;
    CHECK_EQ(r, 0);
    CHECK(logged("\"in-reserved\"", "outside RAM"));
    CHECK(logged("\"straddles\"", "outside RAM"));
    struct stivale2_struct_tag_modules *mt = tag(STIVALE2_STRUCT_TAG_MODULES_ID);
    CHECK(mt && mt->module_count == 1 && strcmp(mt->modules[0].string, "fine") == 0);
    /* Every module kept lies inside KERNEL_AND_MODULES. */
    struct stivale2_struct_tag_memmap *m = memmap();
    for (uint64_t j = 0; mt && m && j < mt->module_count; j++) {
        bool inside = false;
        for (uint64_t i = 0; i < m->entries; i++)
            inside |= m->memmap[i].type == KM && m->memmap[i].base <= mt->modules[j].begin &&
                      mt->modules[j].end <= m->memmap[i].base + m->memmap[i].length;
        CHECK(inside);
    }
    CHECK(MAP_IS({0x0, 0x9F000, U}, {0x100000, 0xF000, KM}, {0x10F000, 0x1F1000, U},
                 {0x300000, 0x1000, BR}, {0x301000, 0xFF000, U}, {0x400000, 0x100000, R},
                 {0x500000, 0x100000, U}, {0x600000, 0x1000, KM}, {0x601000, 0x79FF000, U}));
}

HTEST(mb2_too_many_modules)
{
    grub_prologue();
    for (int i = 0; i < MB2_MAX_MODULES + 1; i++)
        blob_module(&blob, 0x200000 + i * 0x1000, 0x200800 + i * 0x1000, "m");
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 3 (module)", "more than 16 modules"));
    struct stivale2_struct_tag_modules *mt = tag(STIVALE2_STRUCT_TAG_MODULES_ID);
    CHECK_EQ(mt->module_count, MB2_MAX_MODULES);
}

HTEST(mb2_meminfo_fallback)
{
    grub_prologue();
    blob_meminfo(&blob, 639, 130048);
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(ctx.memmap_from_meminfo);
    CHECK(logged("no memory-map tag", "basic meminfo"));
    CHECK(MAP_IS({0x0, 0x9F000, U}, {0x100000, 0xF000, KM}, {0x10F000, 0x1000, BR},
                 {0x110000, 0x7EF0000, U}));
}

HTEST(mb2_bad_entry_size_falls_back)
{
    static const uint32_t bad[] = {16, 28, 0};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        grub_prologue();
        uint32_t off = blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
        blob_put32(&blob, off + 8, bad[i]);
        blob_meminfo(&blob, 639, 130048);
        blob_end(&blob);
        CHECK_EQ(adapt(), 0);
        CHECK(logged("tag 6 (memory map)", "below 24 or not a multiple of 8"));
        CHECK(ctx.memmap_from_meminfo);
        CHECK(mb2_memmap_verify(memmap()) == NULL);
    }
}

HTEST(mb2_no_map_at_all)
{
    grub_prologue();
    blob_end(&blob);
    CHECK_EQ(adapt(), -E_NOENT);
    CHECK(memmap() == NULL);
    CHECK(logged("no memory-map tag", "no basic meminfo"));
    /* The rest is still there. */
    CHECK(tag(STIVALE2_STRUCT_TAG_CMDLINE_ID) != NULL);
}

HTEST(mb2_tag_size_below_8_and_zero)
{
    static const uint32_t sizes[] = {4, 0};
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        grub_prologue();
        blob_meminfo(&blob, 639, 130048);
        uint32_t off = blob_tag(&blob, 5, 20, NULL);
        blob_put32(&blob, off + 4, sizes[i]);
        blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
        blob_end(&blob);
        CHECK_EQ(adapt(), 0);
        CHECK(logged("tag 5 (boot device)", sizes[i] ? "size 4 < 8" : "zero size"));
        CHECK(ctx.memmap_from_meminfo); /* the map tag after it is lost */
        CHECK(!ctx.found.end);
    }
}

HTEST(mb2_tag_past_end_and_missing_end)
{
    grub_prologue();
    blob_meminfo(&blob, 639, 130048);
    uint32_t off = blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_put32(&blob, off + 4, 4000); /* runs past total_size */
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 6 (memory map)", "runs past the end"));
    CHECK(ctx.memmap_from_meminfo);

    grub_prologue();
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_put32(&blob, 0, blob.len); /* no END tag */
    CHECK_EQ(adapt(), 0);
    CHECK(logged("info", "missing END tag"));
    CHECK(!ctx.found.end);
    CHECK(memmap() && memmap()->entries == 9);
}

HTEST(mb2_total_size_checks)
{
    grub_prologue();
    blob_end(&blob);
    blob_put32(&blob, 0, 12);
    CHECK_EQ(adapt(), -E_INVAL);
    CHECK(logged("info", "total_size 12 is below 16"));
    CHECK_EQ(mb2_adapt(&ctx, blob.buf, 8, &env), -E_INVAL);
    CHECK_EQ(mb2_adapt(&ctx, NULL, 100, &env), -E_INVAL);
    CHECK(ctx.info.tags == 0);

    grub_prologue();
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    uint32_t real = blob.len;
    blob_put32(&blob, 0, 100000); /* claims more than we may read */
    CHECK_EQ(mb2_adapt(&ctx, blob.buf, real, &env), 0);
    CHECK(logged("info", "past the"));
    CHECK_EQ(ctx.info_size, real);
    CHECK(ctx.found.end);
}

HTEST(mb2_unaligned_info)
{
    static _Alignas(8) uint8_t shifted[BLOB_MAX + 8];
    grub_prologue();
    blob_mmap(&blob, 32, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    memcpy(shifted + 4, blob.buf, blob.len);
    CHECK_EQ(mb2_adapt(&ctx, shifted + 4, blob.len, &env), 0);
    CHECK(logged("info", "not 8-byte aligned"));
    CHECK_EQ(memmap()->entries, 9);
}

HTEST(mb2_duplicate_tags)
{
    static const struct mb2_in_entry other[] = {{0x0, 0x1000000, 1}};
    grub_prologue();
    blob_string(&blob, 1, "second");
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_mmap(&blob, 24, other, 1);
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 1 (command line)", "duplicate"));
    CHECK(logged("tag 6 (memory map)", "duplicate"));
    struct stivale2_struct_tag_cmdline *c = tag(STIVALE2_STRUCT_TAG_CMDLINE_ID);
    CHECK(strcmp((const char *)(uintptr_t)c->cmdline, "test=mb2_ fault=none") == 0);
    CHECK_EQ(memmap()->entries, 9); /* the first map */
}

HTEST(mb2_cmdline_without_nul)
{
    blob_init(&blob);
    blob_tag(&blob, 1, 8 + 6, "abcdef");
    blob_tag(&blob, 2, 8 + 4, "GRUB");
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 1 (command line)", "no NUL"));
    CHECK(logged("tag 2 (boot loader name)", "no NUL"));
    CHECK(tag(STIVALE2_STRUCT_TAG_CMDLINE_ID) == NULL);
    CHECK(ctx.info.bootloader_brand[0] == '\0');
}

HTEST(mb2_tag_too_small_for_type)
{
    grub_prologue();
    blob_tag(&blob, 4, 12, NULL);  /* meminfo needs 16 */
    blob_tag(&blob, 15, 20, NULL); /* new RSDP needs 44 */
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 4 (basic meminfo)", "below the 16"));
    CHECK(logged("tag 15 (ACPI new RSDP)", "below the 44"));
}

/* n usable pages with a page of hole between each, from 16 MiB. */
static void spaced_pages(struct mb2_in_entry *in, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        in[i] = (struct mb2_in_entry){0x1000000 + i * 0x2000ULL, 0x1000, 1};
}

HTEST(mb2_input_overflow)
{
    static struct mb2_in_entry in[MB2_MAX_INPUT + 1];
    spaced_pages(in, ARRAY_SIZE(in));
    grub_prologue();
    blob_mmap(&blob, 24, in, ARRAY_SIZE(in));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 6 (memory map)", "more than 256 entries"));
    CHECK_EQ(memmap()->entries, MB2_MAX_INPUT);
    CHECK(mb2_memmap_verify(memmap()) == NULL);
}

HTEST(mb2_output_overflow)
{
    static struct mb2_in_entry in[MB2_MAX_INPUT];
    spaced_pages(in, MB2_MAX_INPUT - 1);
    in[MB2_MAX_INPUT - 1] = (struct mb2_in_entry){0x10000000, 0x10000000, 1};
    grub_prologue();
    for (int k = 0; k < MB2_MAX_MODULES; k++)
        blob_module(&blob, 0x10000000 + k * 0x10000, 0x10001000 + k * 0x10000, "m");
    blob_mmap(&blob, 24, in, ARRAY_SIZE(in));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("memmap", "more than 256 entries"));
    CHECK_EQ(memmap()->entries, MB2_MAX_MEMMAP);
    CHECK(mb2_memmap_verify(memmap()) == NULL);
}

/* A framebuffer tag: RGB (type 1, 38 bytes with colour info) or EGA text. */
static void fb_tag(uint64_t addr, uint32_t pitch, uint32_t width, uint32_t height, uint8_t bpp,
                   uint8_t type)
{
    uint8_t fb[30] = {0};
    static const uint8_t colours[6] = {16, 8, 8, 8, 0, 8}; /* red, green, blue pos/size */
    memcpy(fb, &addr, 8);
    memcpy(fb + 8, &pitch, 4);
    memcpy(fb + 12, &width, 4);
    memcpy(fb + 16, &height, 4);
    fb[20] = bpp;
    fb[21] = type;
    memcpy(fb + 24, colours, 6);
    blob_tag(&blob, 8, type == 1 ? 38 : 32, fb);
}

HTEST(mb2_framebuffer_and_textmode)
{
    grub_prologue();
    fb_tag(0xFD000000, 4096, 1024, 768, 32, 1);
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    struct stivale2_struct_tag_framebuffer *f = tag(STIVALE2_STRUCT_TAG_FRAMEBUFFER_ID);
    CHECK(f && f->framebuffer_addr == 0xFD000000 && f->framebuffer_width == 1024 &&
          f->framebuffer_height == 768 && f->framebuffer_pitch == 4096 &&
          f->framebuffer_bpp == 32 && f->memory_model == 1 && f->red_mask_shift == 16 &&
          f->red_mask_size == 8 && f->blue_mask_shift == 0 && f->blue_mask_size == 8);
    CHECK(tag(STIVALE2_STRUCT_TAG_TEXTMODE_ID) == NULL);

    /* EGA text, as GRUB reports without a framebuffer request. */
    grub_prologue();
    fb_tag(0xB8000, 160, 80, 25, 16, 2);
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    struct stivale2_struct_tag_textmode *t = tag(STIVALE2_STRUCT_TAG_TEXTMODE_ID);
    CHECK(t && t->address == 0xB8000 && t->rows == 25 && t->cols == 80 && t->bytes_per_char == 2);

    /* A framebuffer over RAM is carved out; one too wide is refused. */
    grub_prologue();
    fb_tag(0x2000000, 0x1000, 1024, 16, 32, 1);
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(MAP_IS({0x0, 0x9F000, U}, {0x9FC00, 0x400, R}, {0xF0000, 0x10000, R},
                 {0x100000, 0xF000, KM}, {0x10F000, 0x1000, BR}, {0x110000, 0x1EF0000, U},
                 {0x2000000, 0x10000, FB}, {0x2010000, 0x5FD0000, U}, {0x7FE0000, 0x20000, R},
                 {0xFFFC0000, 0x40000, R}, {0xFD00000000, 0x300000000, R}));
    grub_prologue();
    fb_tag(0x2000000, 0x1000, 70000, 16, 32, 1);
    blob_end(&blob);
    adapt();
    CHECK(logged("tag 8 (framebuffer)", "width 70000 does not fit 16 bits"));
    CHECK(tag(STIVALE2_STRUCT_TAG_FRAMEBUFFER_ID) == NULL);
}

/* Every carve-out fits at full capacity: the kernel, the info block, 16
 * modules and a framebuffer over RAM, which must never stay usable. */
HTEST(mb2_full_modules_and_framebuffer_in_ram)
{
    grub_prologue();
    for (int i = 0; i < MB2_MAX_MODULES; i++)
        blob_module(&blob, 0x200000 + i * 0x2000, 0x200800 + i * 0x2000, "m");
    fb_tag(0x2000000, 0x1000, 1024, 16, 32, 1);
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    struct stivale2_struct_tag_modules *mt = tag(STIVALE2_STRUCT_TAG_MODULES_ID);
    CHECK(mt && mt->module_count == MB2_MAX_MODULES);
    CHECK_EQ(ctx.nproblems, 0);
    struct stivale2_struct_tag_memmap *m = memmap();
    bool fb = false;
    for (uint64_t i = 0; m && i < m->entries; i++) {
        const struct stivale2_mmap_entry *e = &m->memmap[i];
        if (e->base < 0x2010000 && e->base + e->length > 0x2000000)
            CHECK_EQ(e->type, FB);
        fb |= e->type == FB && e->base == 0x2000000 && e->length == 0x10000;
    }
    CHECK(fb);
}

HTEST(mb2_rsdp_smbios_efi)
{
    uint8_t old_rsdp[20] = "RSD PTR \x11OLDOEM";
    uint8_t new_rsdp[36] = "RSD PTR \x22NEWOEM\x02";
    uint8_t smbios[8 + 31] = {3, 0};
    memcpy(smbios + 8, "_SM3_", 5);
    uint64_t systab = 0x7F000000;
    grub_prologue();
    blob_tag(&blob, 14, 8 + 20, old_rsdp);
    blob_tag(&blob, 15, 8 + 36, new_rsdp);
    blob_tag(&blob, 13, 8 + sizeof(smbios), smbios);
    blob_tag(&blob, 12, 16, &systab);
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    struct stivale2_struct_tag_rsdp *r = tag(STIVALE2_STRUCT_TAG_RSDP_ID);
    CHECK(r && memcmp((const void *)(uintptr_t)r->rsdp, new_rsdp, 36) == 0);
    CHECK(r->rsdp == (uintptr_t)ctx.rsdp); /* a copy the kernel owns */
    struct stivale2_struct_tag_smbios *s = tag(STIVALE2_STRUCT_TAG_SMBIOS_ID);
    CHECK(s && s->smbios_entry_64 == (uintptr_t)ctx.smbios && s->smbios_entry_32 == 0);
    struct stivale2_struct_tag_firmware *fw = tag(STIVALE2_STRUCT_TAG_FIRMWARE_ID);
    CHECK(fw && fw->flags == 0); /* UEFI */
    struct stivale2_struct_tag_efi_system_table *e = tag(STIVALE2_STRUCT_TAG_EFI_SYSTEM_TABLE_ID);
    CHECK(e && e->system_table == 0x7F000000);

    /* A new RSDP without its signature: the old one is used. */
    new_rsdp[0] = 'X';
    grub_prologue();
    blob_tag(&blob, 14, 8 + 20, old_rsdp);
    blob_tag(&blob, 15, 8 + 36, new_rsdp);
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 15 (ACPI new RSDP)", "signature"));
    r = tag(STIVALE2_STRUCT_TAG_RSDP_ID);
    CHECK(r && memcmp((const void *)(uintptr_t)r->rsdp, old_rsdp, 20) == 0);
}

/* One ELF64 section header: flags, addr, size at their offsets. */
static void shdr(uint8_t *p, uint32_t type, uint64_t flags, uint64_t addr, uint64_t size)
{
    memset(p, 0, 64);
    memcpy(p + 4, &type, 4);
    memcpy(p + 8, &flags, 8);
    memcpy(p + 16, &addr, 8);
    memcpy(p + 32, &size, 8);
}

HTEST(mb2_pmrs_from_elf_sections)
{
    uint8_t body[12 + 6 * 64];
    uint32_t hdr[3] = {6, 64, 5};
    memcpy(body, hdr, 12);
    uint64_t K = 0xffffffff80000000ULL;
    shdr(body + 12 + 0 * 64, 0, 0, 0, 0);                     /* null */
    shdr(body + 12 + 1 * 64, 1, 2 | 4, K + 0x101000, 0x5000); /* .text: R X */
    shdr(body + 12 + 2 * 64, 1, 2, K + 0x106000, 0x2000);     /* .rodata: R */
    shdr(body + 12 + 3 * 64, 1, 2 | 1, K + 0x108000, 0x1000); /* .data: R W */
    shdr(body + 12 + 4 * 64, 8, 2 | 1, K + 0x109000, 0x6000); /* .bss: R W, merged */
    shdr(body + 12 + 5 * 64, 2, 0, 0x120000, 0x800);          /* .symtab: not alloc */
    grub_prologue();
    blob_tag(&blob, 9, 8 + sizeof(body), body);
    blob_mmap(&blob, 24, blob_qemu_map, ARRAY_SIZE(blob_qemu_map));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    struct stivale2_struct_tag_pmrs *p = tag(STIVALE2_STRUCT_TAG_PMRS_ID);
    CHECK(p && p->entries == 3);
    CHECK(p->pmrs[0].base == K + 0x101000 && p->pmrs[0].length == 0x5000 &&
          p->pmrs[0].permissions == (STIVALE2_PMR_READABLE | STIVALE2_PMR_EXECUTABLE));
    CHECK(p->pmrs[1].base == K + 0x106000 && p->pmrs[1].permissions == STIVALE2_PMR_READABLE);
    CHECK(p->pmrs[2].base == K + 0x108000 && p->pmrs[2].length == 0x7000 &&
          p->pmrs[2].permissions == (STIVALE2_PMR_READABLE | STIVALE2_PMR_WRITABLE));

    hdr[0] = 100; /* more headers than the tag holds */
    memcpy(body, hdr, 12);
    grub_prologue();
    blob_tag(&blob, 9, 8 + sizeof(body), body);
    blob_end(&blob);
    adapt();
    CHECK(logged("tag 9 (ELF sections)", "run past the tag"));
    CHECK(tag(STIVALE2_STRUCT_TAG_PMRS_ID) == NULL);
}

HTEST(mb2_type_names_and_lookup)
{
    CHECK(strcmp(stivale2_mmap_type_name(1), "usable") == 0);
    CHECK(strcmp(stivale2_mmap_type_name(3), "acpi-reclaimable") == 0);
    CHECK(strcmp(stivale2_mmap_type_name(4), "acpi-nvs") == 0);
    CHECK(strcmp(stivale2_mmap_type_name(5), "bad") == 0);
    CHECK(strcmp(stivale2_mmap_type_name(0x1000), "bootloader-reclaimable") == 0);
    CHECK(strcmp(stivale2_mmap_type_name(0x1001), "kernel-and-modules") == 0);
    CHECK(strcmp(stivale2_mmap_type_name(0x1002), "framebuffer") == 0);
    CHECK(strcmp(stivale2_mmap_type_name(77), "unknown") == 0);
    CHECK(stivale2_get_tag(NULL, STIVALE2_STRUCT_TAG_MEMMAP_ID) == NULL);
}

HTEST(mb2_verify_catches_bad_maps)
{
    static struct mb2_memmap_store store;
    struct stivale2_struct_tag_memmap *m = (struct stivale2_struct_tag_memmap *)&store;
    m->entries = 2;
    m->memmap[0] = (struct stivale2_mmap_entry){0x1000, 0x2000, U, 0};
    m->memmap[1] = (struct stivale2_mmap_entry){0x2000, 0x1000, R, 0};
    CHECK(mb2_memmap_verify(m) != NULL); /* overlap */
    m->memmap[1].base = 0x3000;
    CHECK(mb2_memmap_verify(m) == NULL);
    m->memmap[1].type = U;
    CHECK(mb2_memmap_verify(m) != NULL); /* not merged */
    m->memmap[1] = (struct stivale2_mmap_entry){0x3800, 0x1000, U, 0};
    CHECK(mb2_memmap_verify(m) != NULL); /* unaligned usable */
}
