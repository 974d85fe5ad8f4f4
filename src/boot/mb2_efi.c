/*
 * What the adapter finds through the EFI system table when GRUB does not
 * pass it: the SMBIOS entry point. GRUB 2.06 emits no SMBIOS tag (13) on
 * UEFI, but the firmware lists the entry point in its configuration table,
 * an array of (GUID, pointer) pairs the system table points at.
 *
 * Layouts (UEFI spec, x86_64): EFI_SYSTEM_TABLE starts with the 64-bit
 * signature "IBI SYST"; NumberOfTableEntries is the u64 at +104 and
 * ConfigurationTable the pointer at +112. Each EFI_CONFIGURATION_TABLE entry
 * is a 16-byte GUID and an 8-byte VendorTable pointer. Every address is
 * physical (GRUB leaves the firmware's identity mapping unchanged) and read
 * through env->read_phys, which bounds each read; nothing is trusted: the
 * signature, the entry count (at most EFI_MAX_TABLES are looked at) and the
 * SMBIOS anchor are all checked.
 */
#include "mb2_internal.h"

#define EFI_SYSTEM_TABLE_SIGNATURE 0x5453595320494249ULL /* "IBI SYST" */
#define EFI_ST_NENTRIES 104
#define EFI_ST_TABLE 112
#define EFI_ST_SIZE 120
#define EFI_CT_ENTRY 24
#define EFI_MAX_TABLES 128

/* GUIDs as they lie in memory: the first three fields little-endian. */
static const uint8_t smbios3_guid[16] = {0x44, 0x15, 0xfd, 0xf2, 0x94, 0x97, 0x2c, 0x4a,
                                         0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94};
static const uint8_t smbios_guid[16] = {0x31, 0x2d, 0x9d, 0xeb, 0x88, 0x2d, 0xd3, 0x11,
                                        0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d};

/* The VendorTable of the entry with `guid` among n entries at ct, or 0. */
static uint64_t find_table(const uint8_t *ct, uint64_t n, const uint8_t guid[16])
{
    for (uint64_t i = 0; i < n; i++)
        if (memcmp(ct + i * EFI_CT_ENTRY, guid, 16) == 0)
            return mb2_rd64(ct + i * EFI_CT_ENTRY + 16);
    return 0;
}

bool mb2_efi_smbios(struct mb2_ctx *ctx, const struct mb2_env *env, uint64_t systab, uint8_t *out,
                    size_t out_size, bool *is64)
{
    static const struct {
        const uint8_t *guid;
        const char *anchor;
        size_t anchor_len, size;
        bool is64;
    } kinds[] = {
        {smbios3_guid, "_SM3_", 5, 24, true}, /* SMBIOS 3.x: 64-bit entry point */
        {smbios_guid, "_SM_", 4, 31, false},  /* SMBIOS 2.x */
    };
    if (!env->read_phys || !systab)
        return false;
    const uint8_t *st = env->read_phys(systab, EFI_ST_SIZE);
    if (!st || mb2_rd64(st) != EFI_SYSTEM_TABLE_SIGNATURE) {
        mb2_report_tag(ctx, MB2_TAG_EFI64, "no EFI system table (\"IBI SYST\") at 0x%llx",
                       (unsigned long long)systab);
        return false;
    }
    uint64_t n = MIN(mb2_rd64(st + EFI_ST_NENTRIES), (uint64_t)EFI_MAX_TABLES);
    uint64_t table = mb2_rd64(st + EFI_ST_TABLE);
    const uint8_t *ct = n ? env->read_phys(table, (size_t)n * EFI_CT_ENTRY) : NULL;
    if (!ct) {
        mb2_report_tag(ctx, MB2_TAG_EFI64,
                       "the configuration table (%llu entries at 0x%llx) "
                       "is unreadable",
                       (unsigned long long)n, (unsigned long long)table);
        return false;
    }
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        uint64_t at = find_table(ct, n, kinds[k].guid);
        if (at == 0)
            continue;
        const uint8_t *p = env->read_phys(at, kinds[k].size);
        if (!p || memcmp(p, kinds[k].anchor, kinds[k].anchor_len) != 0) {
            mb2_report_tag(ctx, MB2_TAG_EFI64,
                           "the SMBIOS entry point at 0x%llx has no %s anchor: ignored",
                           (unsigned long long)at, kinds[k].anchor);
            continue;
        }
        memcpy(out, p, MIN(kinds[k].size, out_size));
        *is64 = kinds[k].is64;
        return true;
    }
    return false;
}
