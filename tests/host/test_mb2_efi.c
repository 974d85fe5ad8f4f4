/*
 * Host tests of the Multiboot2 adapter on UEFI boot information, modelled on
 * what GRUB 2.06 gives under OVMF on q35: the EFI memory map (tag 17) with
 * loader and boot-services memory that is free after ExitBootServices,
 * runtime-services memory that is not, GRUB's own type 20 in tag 6, the
 * ACPI 2.0 RSDP, SMBIOS, the EFI64 system table, RAM above 4 GiB, and the
 * info block in low memory (0x92000).
 */
#include "harness.h"
#include "mb2_blob.h"

#include <stdlib.h>
#include <string.h>

#include <pagoda/errno.h>
#include <pagoda/mb2.h>

#define U 1
#define R 2
#define A 3
#define N 4
#define BAD 5
#define BR 0x1000
#define KM 0x1001

#define RUNTIME (1ULL << 63)

static struct blob blob;
static struct mb2_ctx ctx;

/* Where GRUB put the kernel and the info under OVMF. */
static struct mb2_env env = {
    .kernel_phys_start = 0x100000,
    .kernel_phys_end = 0x185000,
    .kernel_virt_base = 0xffffffff80100000ULL,
    .info_phys = 0x92000,
};

struct efi_desc {
    uint32_t type;
    uint64_t start, pages, attr;
};

struct exp {
    uint64_t base, length;
    uint32_t type;
};

/* A tag 17 with descriptors of dsize bytes; the bytes past the 40 a
 * descriptor uses are 0xA5, to catch a fixed stride. */
static void efi_mmap(uint32_t dsize, const struct efi_desc *d, unsigned n)
{
    uint32_t off = blob.len, size = 16 + dsize * n;
    blob_put32(&blob, off, 17);
    blob_put32(&blob, off + 4, size);
    blob_put32(&blob, off + 8, dsize);
    blob_put32(&blob, off + 12, 1);
    for (unsigned i = 0; i < n; i++) {
        uint32_t p = off + 16 + i * dsize;
        memset(blob.buf + p, 0xA5, dsize);
        blob_put32(&blob, p, d[i].type);
        blob_put32(&blob, p + 4, 0);
        blob_put64(&blob, p + 8, d[i].start);
        blob_put64(&blob, p + 16, 0);
        blob_put64(&blob, p + 24, d[i].pages);
        blob_put64(&blob, p + 32, d[i].attr);
    }
    blob.len = (off + size + 7) & ~7u;
}

/* A compact OVMF q35 map with -m 6G: every kind of descriptor once. */
static const struct efi_desc ovmf[] = {
    {3, 0x0, 1, 0xF},                       /* boot-services code */
    {2, 0x1000, 149, 0xF},                  /* loader data: GRUB, and the info at 0x92000 */
    {7, 0x96000, 10, 0xF},                  /* conventional, to 0xA0000 */
    {2, 0x100000, 0x85, 0xF},               /* loader data: the kernel */
    {7, 0x185000, 0x67B, 0xF},              /* to 8 MiB */
    {10, 0x800000, 8, 0xF},                 /* ACPI NVS */
    {7, 0x808000, 0x7E7F8, 0xF},            /* to 0x7F000000 */
    {4, 0x7F000000, 0x100, 0xF},            /* boot-services data */
    {6, 0x7F100000, 0x100, RUNTIME | 0xF},  /* runtime-services code */
    {5, 0x7F200000, 0x100, RUNTIME | 0xF},  /* runtime-services data (GRUB's tag 6: type 20) */
    {0, 0x7F300000, 0x80, 0xF},             /* reserved */
    {9, 0x7F380000, 0x12, 0xF},             /* ACPI reclaim */
    {10, 0x7F392000, 0x80, 0xF},            /* ACPI NVS */
    {1, 0x7F412000, 0x10, 0xF},             /* loader code */
    {7, 0x7F422000, 0xBDE, 0xF},            /* to 2 GiB */
    {0, 0xB0000000, 0x10000, 0x1},          /* PCIe ECAM, uncached */
    {11, 0xFFC00000, 0x400, RUNTIME | 0x1}, /* MMIO: the flash */
    {7, 0x100000000, 0x100000, 0xF},        /* RAM above 4 GiB */
};

/* GRUB's conversion of the same map (tag 6), with its internal type 20. */
static const struct mb2_in_entry ovmf_tag6[] = {
    {0x0, 0xA0000, 1},           {0x100000, 0x7F000000, 1},
    {0x7F100000, 0x100000, 2},   {0x7F200000, 0x100000, 20},
    {0x7F300000, 0x80000, 2},    {0x7F380000, 0x12000, 3},
    {0x7F392000, 0x80000, 4},    {0x7F412000, 0xBEE000, 1},
    {0xB0000000, 0x10000000, 2}, {0x100000000, 0x100000000, 1},
};

static int adapt(void)
{
    return mb2_adapt(&ctx, blob.buf, blob.len, &env);
}

static void *tag(uint64_t id)
{
    return stivale2_get_tag(&ctx.info, id);
}

static void dump(void)
{
    struct stivale2_struct_tag_memmap *m = tag(STIVALE2_STRUCT_TAG_MEMMAP_ID);
    for (uint64_t i = 0; m && i < m->entries; i++)
        printf("  got base=0x%llx length=0x%llx type=%s\n", (unsigned long long)m->memmap[i].base,
               (unsigned long long)m->memmap[i].length, stivale2_mmap_type_name(m->memmap[i].type));
    for (unsigned i = 0; i < ctx.nlog; i++)
        printf("  log: %s\n", ctx.log[i]);
}

static bool map_is(const struct exp *e, size_t n)
{
    struct stivale2_struct_tag_memmap *m = tag(STIVALE2_STRUCT_TAG_MEMMAP_ID);
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

static bool logged(const char *a, const char *b)
{
    for (unsigned i = 0; i < ctx.nlog; i++)
        if (strstr(ctx.log[i], a) && strstr(ctx.log[i], b))
            return true;
    if (!getenv("HTEST_QUIET"))
        dump();
    return false;
}

/* The tags GRUB emits on OVMF, in its order, with the EFI map of `dsize`. */
static void ovmf_info(uint32_t dsize)
{
    blob_init(&blob);
    blob_string(&blob, 1, "");
    blob_string(&blob, 2, "GRUB 2.06-13+deb12u2");
    blob_mmap(&blob, 24, ovmf_tag6, ARRAY_SIZE(ovmf_tag6));
    blob_meminfo(&blob, 640, 2096128);
    uint64_t systab = 0x7F2EC018;
    blob_tag(&blob, 12, 16, &systab);
    uint8_t old_rsdp[20] = "RSD PTR \x8c"
                           "BOCHS \x00";
    uint8_t new_rsdp[36] = "RSD PTR \x16"
                           "BOCHS \x02";
    blob_tag(&blob, 14, 8 + 20, old_rsdp);
    blob_tag(&blob, 15, 8 + 36, new_rsdp);
    efi_mmap(dsize, ovmf, ARRAY_SIZE(ovmf));
    blob_end(&blob);
}

static uint64_t info_end(void)
{
    return (0x92000 + blob.len + 0xFFF) & ~0xFFFULL;
}

HTEST(mb2_efi_ovmf_map)
{
    ovmf_info(48);
    CHECK_EQ(adapt(), 0);
    CHECK_EQ(ctx.nproblems, 0); /* tag 6 (with its type 20) is not read */
    CHECK_EQ(ctx.efi_descriptors, ARRAY_SIZE(ovmf));
    uint64_t e = info_end();
    /* Loader and boot-services memory usable; the info block in low
     * memory carved as bootloader-reclaimable; runtime code and data,
     * reserved and MMIO reserved; RAM above 4 GiB usable. */
    CHECK(MAP_IS({0x0, 0x92000, U}, {0x92000, e - 0x92000, BR}, {e, 0xA0000 - e, U},
                 {0x100000, 0x85000, KM}, {0x185000, 0x67B000, U}, {0x800000, 0x8000, N},
                 {0x808000, 0x7F100000 - 0x808000, U}, {0x7F100000, 0x280000, R},
                 {0x7F380000, 0x12000, A}, {0x7F392000, 0x80000, N},
                 {0x7F412000, 0x80000000 - 0x7F412000, U}, {0xB0000000, 0x10000000, R},
                 {0xFFC00000, 0x400000, R}, {0x100000000, 0x100000000, U}));
}

HTEST(mb2_efi_steps_by_descriptor_size)
{
    ovmf_info(64); /* larger descriptors with junk after the 40 bytes used */
    CHECK_EQ(adapt(), 0);
    CHECK_EQ(ctx.nproblems, 0);
    CHECK_EQ(ctx.efi_descriptors, ARRAY_SIZE(ovmf));
    struct stivale2_struct_tag_memmap *m = tag(STIVALE2_STRUCT_TAG_MEMMAP_ID);
    CHECK(m && m->entries == 14);
    CHECK(m->memmap[13].base == 0x100000000 && m->memmap[13].length == 0x100000000);
}

HTEST(mb2_efi_bad_descriptor_size_falls_back_to_tag6)
{
    ovmf_info(36); /* below the 40 bytes a descriptor needs */
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 17 (EFI memory map)", "descriptor_size 36"));
    CHECK_EQ(ctx.efi_descriptors, 0);
    /* Tag 6 then: GRUB's type 20 is reserved, and said so. */
    CHECK(logged("tag 6 (memory map)", "unknown type 20"));
    struct stivale2_struct_tag_memmap *m = tag(STIVALE2_STRUCT_TAG_MEMMAP_ID);
    bool reserved = false;
    for (uint64_t i = 0; m && i < m->entries; i++) {
        const struct stivale2_mmap_entry *x = &m->memmap[i];
        if (x->base <= 0x7F200000 && x->base + x->length > 0x7F200000)
            reserved = x->type == R;
    }
    CHECK(reserved);
}

HTEST(mb2_efi_runtime_attribute_reserves)
{
    /* Conventional memory the firmware marked RUNTIME is the firmware's. */
    static const struct efi_desc d[] = {
        {7, 0x0, 0x9F, 0xF},
        {7, 0x100000, 0x3F00, 0xF},
        {7, 0x4000000, 0x10, RUNTIME | 0xF},
        {4, 0x4010000, 0x10, RUNTIME | 0xF},
        {8, 0x4020000, 0x10, 0xF},  /* unusable: bad memory */
        {14, 0x4030000, 0x10, 0xF}, /* persistent memory: not RAM to allocate */
        {99, 0x4040000, 0x10, 0xF}, /* unknown: reserved */
        {7, 0x4050000, 0x7B0, 0xF},
    };
    blob_init(&blob);
    blob_string(&blob, 2, "GRUB 2.06-13+deb12u2");
    efi_mmap(48, d, ARRAY_SIZE(d));
    blob_end(&blob);
    env.info_phys = 0x9000;
    int rc = adapt();
    env.info_phys = 0x92000;
    CHECK_EQ(rc, 0);
    CHECK_EQ(ctx.nproblems, 0);
    uint64_t e = (0x9000 + blob.len + 0xFFF) & ~0xFFFULL;
    CHECK(MAP_IS({0x0, 0x9000, U}, {0x9000, e - 0x9000, BR}, {e, 0x9F000 - e, U},
                 {0x100000, 0x85000, KM}, {0x185000, 0x4000000 - 0x185000, U},
                 {0x4000000, 0x20000, R}, {0x4020000, 0x10000, BAD}, {0x4030000, 0x20000, R},
                 {0x4050000, 0x7B0000, U}));
}

HTEST(mb2_efi_many_descriptors_merge)
{
    /* Firmware splits RAM into many runs of alternating boot-services code
     * and data (OVMF: over a hundred): all usable, so they merge on input
     * and never reach MB2_MAX_INPUT. */
    static struct efi_desc d[600];
    for (unsigned i = 0; i < 600; i++)
        d[i] = (struct efi_desc){i % 2 ? 3 : 4, (uint64_t)i * 0x2000, 2, 0xF};
    blob_init(&blob);
    efi_mmap(48, d, 600);
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK_EQ(ctx.nproblems, 0);
    CHECK_EQ(ctx.efi_descriptors, 600);
    uint64_t e = info_end();
    CHECK(MAP_IS({0x0, 0x92000, U}, {0x92000, e - 0x92000, BR}, {e, 0x100000 - e, U},
                 {0x100000, 0x85000, KM}, {0x185000, 600 * 0x2000 - 0x185000, U}));

    /* Runs that cannot merge (a reserved page between each) overflow it:
     * reported, and the rest is dropped, never misread. */
    for (unsigned i = 0; i < 600; i++)
        d[i] = (struct efi_desc){i % 2 ? 0 : 7, (uint64_t)i * 0x2000, 2, 0xF};
    blob_init(&blob);
    efi_mmap(48, d, 600);
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 17 (EFI memory map)", "more than 256 ranges"));
}

HTEST(mb2_efi_wrapping_descriptor_clipped)
{
    static const struct efi_desc d[] = {
        {7, 0x100000, 0x1000, 0xF},
        {0, 0xFFFFFFFFFFFF0000ULL, 0x100, 0},
    };
    blob_init(&blob);
    efi_mmap(48, d, ARRAY_SIZE(d));
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 17 (EFI memory map)", "wraps past 2^64"));
}

HTEST(mb2_efi_tables_and_firmware)
{
    ovmf_info(48);
    uint8_t smbios[8 + 31] = {0};
    memcpy(smbios + 8, "_SM_", 4); /* a 32-bit (SMBIOS 2.x) entry point */
    blob.len -= 8;                 /* reopen before END */
    blob_tag(&blob, 13, 8 + sizeof(smbios), smbios);
    blob_end(&blob);
    CHECK_EQ(adapt(), 0);
    struct stivale2_struct_tag_firmware *fw = tag(STIVALE2_STRUCT_TAG_FIRMWARE_ID);
    CHECK(fw && fw->flags == 0); /* UEFI */
    struct stivale2_struct_tag_efi_system_table *st = tag(STIVALE2_STRUCT_TAG_EFI_SYSTEM_TABLE_ID);
    CHECK(st && st->system_table == 0x7F2EC018);
    struct stivale2_struct_tag_rsdp *r = tag(STIVALE2_STRUCT_TAG_RSDP_ID);
    CHECK(r && r->rsdp == (uintptr_t)ctx.rsdp);
    CHECK(((const uint8_t *)(uintptr_t)r->rsdp)[15] == 2); /* the ACPI 2.0 one */
    struct stivale2_struct_tag_smbios *s = tag(STIVALE2_STRUCT_TAG_SMBIOS_ID);
    CHECK(s && s->smbios_entry_32 == (uintptr_t)ctx.smbios && s->smbios_entry_64 == 0);
    CHECK(memcmp(ctx.smbios, "_SM_", 4) == 0);
}

/* Fake physical memory for the adapter's look through the EFI system table:
 * 64 KiB at FAKE_BASE; reads outside it fail, as unmapped memory would. */
#define FAKE_BASE 0x7F000000ULL
static uint8_t fake[65536];
static unsigned fake_reads;

static const void *fake_read(paddr_t pa, size_t len)
{
    fake_reads++;
    if (pa < FAKE_BASE || len > sizeof(fake) || pa - FAKE_BASE > sizeof(fake) - len)
        return NULL;
    return fake + (pa - FAKE_BASE);
}

static const uint8_t guid_smbios3[16] = {0x44, 0x15, 0xfd, 0xf2, 0x94, 0x97, 0x2c, 0x4a,
                                         0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94};
static const uint8_t guid_smbios[16] = {0x31, 0x2d, 0x9d, 0xeb, 0x88, 0x2d, 0xd3, 0x11,
                                        0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d};
static const uint8_t guid_acpi20[16] = {0x71, 0xe8, 0x68, 0x88, 0xf1, 0xe4, 0xd3, 0x11,
                                        0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81};

/* A system table at +0x1000 whose configuration table (at +0x2000) lists
 * ACPI 2.0, then the given GUIDs pointing at +0x3000, +0x3100, ... */
static void fake_firmware(const uint8_t *const *guids, unsigned n)
{
    memset(fake, 0, sizeof(fake));
    uint64_t sig = 0x5453595320494249ULL, count = n + 1, table = FAKE_BASE + 0x2000;
    memcpy(fake + 0x1000, &sig, 8);
    memcpy(fake + 0x1000 + 104, &count, 8);
    memcpy(fake + 0x1000 + 112, &table, 8);
    uint64_t acpi = FAKE_BASE + 0x4000;
    memcpy(fake + 0x2000, guid_acpi20, 16);
    memcpy(fake + 0x2000 + 16, &acpi, 8);
    for (unsigned i = 0; i < n; i++) {
        uint64_t at = FAKE_BASE + 0x3000 + i * 0x100;
        memcpy(fake + 0x2000 + (i + 1) * 24, guids[i], 16);
        memcpy(fake + 0x2000 + (i + 1) * 24 + 16, &at, 8);
    }
    memcpy(fake + 0x3000, guids[0] == guid_smbios3 ? "_SM3_" : "_SM_", 5);
    memcpy(fake + 0x3100, n > 1 && guids[1] == guid_smbios3 ? "_SM3_" : "_SM_", 5);
}

static void uefi_info_no_smbios(uint64_t systab)
{
    blob_init(&blob);
    blob_string(&blob, 2, "GRUB 2.06-13+deb12u2");
    blob_tag(&blob, 12, 16, &systab);
    efi_mmap(48, ovmf, ARRAY_SIZE(ovmf));
    blob_end(&blob);
}

HTEST(mb2_efi_smbios_from_configuration_table)
{
    struct stivale2_struct_tag_smbios *s;
    env.read_phys = fake_read;

    /* Both entry points listed: the 3.x (64-bit) one is preferred. */
    fake_firmware((const uint8_t *const[]){guid_smbios, guid_smbios3}, 2);
    uefi_info_no_smbios(FAKE_BASE + 0x1000);
    CHECK_EQ(adapt(), 0);
    CHECK_EQ(ctx.nproblems, 0);
    s = tag(STIVALE2_STRUCT_TAG_SMBIOS_ID);
    CHECK(s && s->smbios_entry_64 == (uintptr_t)ctx.smbios && s->smbios_entry_32 == 0);
    CHECK(memcmp(ctx.smbios, "_SM3_", 5) == 0 && ctx.smbios_from_efi);

    /* Only 2.x (OVMF on QEMU 7.2). */
    fake_firmware((const uint8_t *const[]){guid_smbios}, 1);
    uefi_info_no_smbios(FAKE_BASE + 0x1000);
    CHECK_EQ(adapt(), 0);
    s = tag(STIVALE2_STRUCT_TAG_SMBIOS_ID);
    CHECK(s && s->smbios_entry_32 == (uintptr_t)ctx.smbios && s->smbios_entry_64 == 0);

    /* A listed entry point without its anchor: reported, no tag. */
    fake[0x3000] = 'X';
    uefi_info_no_smbios(FAKE_BASE + 0x1000);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 12 (EFI64 system table)", "no _SM_ anchor"));
    CHECK(tag(STIVALE2_STRUCT_TAG_SMBIOS_ID) == NULL);

    /* A system table pointer to something else, or to nowhere. */
    uefi_info_no_smbios(FAKE_BASE + 0x800);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 12 (EFI64 system table)", "no EFI system table"));
    CHECK(tag(STIVALE2_STRUCT_TAG_SMBIOS_ID) == NULL);
    uefi_info_no_smbios(0x1000);
    CHECK_EQ(adapt(), 0);
    CHECK(logged("tag 12 (EFI64 system table)", "no EFI system table"));

    /* A huge entry count is bounded, not followed off the end. */
    fake_firmware((const uint8_t *const[]){guid_smbios}, 1);
    uint64_t many = 1ULL << 40;
    memcpy(fake + 0x1000 + 104, &many, 8);
    uefi_info_no_smbios(FAKE_BASE + 0x1000);
    CHECK_EQ(adapt(), 0);
    CHECK(tag(STIVALE2_STRUCT_TAG_SMBIOS_ID) != NULL); /* found within the bound */

    /* GRUB's own SMBIOS tag wins; without read_phys nothing is read. */
    env.read_phys = NULL;
    fake_reads = 0;
    uefi_info_no_smbios(FAKE_BASE + 0x1000);
    CHECK_EQ(adapt(), 0);
    CHECK(tag(STIVALE2_STRUCT_TAG_SMBIOS_ID) == NULL);
    CHECK_EQ(fake_reads, 0);
    env.read_phys = fake_read;
    fake_firmware((const uint8_t *const[]){guid_smbios3}, 1);
    uint8_t sm[8 + 31] = {0};
    memcpy(sm + 8, "_SM_", 4);
    blob_init(&blob);
    uint64_t systab = FAKE_BASE + 0x1000;
    blob_tag(&blob, 12, 16, &systab);
    blob_tag(&blob, 13, 8 + sizeof(sm), sm);
    efi_mmap(48, ovmf, ARRAY_SIZE(ovmf));
    blob_end(&blob);
    fake_reads = 0;
    CHECK_EQ(adapt(), 0);
    s = tag(STIVALE2_STRUCT_TAG_SMBIOS_ID);
    CHECK(s && s->smbios_entry_32 && !ctx.smbios_from_efi);
    CHECK_EQ(fake_reads, 0);
    env.read_phys = NULL;
}
