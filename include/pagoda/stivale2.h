/*
 * Pagoda's stivale2-style boot information: the contract between the
 * Multiboot2 adapter (src/boot) and the rest of the kernel. Written from the
 * stivale2 specification's facts (identifiers, layouts, memory-map types);
 * layouts are naturally aligned, as in the spec's current header.
 *
 * Everything after the adapter reads only these structures. The adapter
 * guarantees for MEMMAP what stivale2 promised: entries sorted by base, never
 * overlapping, usable and bootloader-reclaimable entries 4 KiB aligned, and the
 * kernel image and modules marked KERNEL_AND_MODULES.
 */
#ifndef PAGODA_STIVALE2_H
#define PAGODA_STIVALE2_H

#include <pagoda/types.h>

struct stivale2_tag {
    uint64_t identifier;
    uint64_t next; /* address of the next tag, 0 ends the chain */
};

struct stivale2_struct {
    char bootloader_brand[64];
    char bootloader_version[64];
    uint64_t tags; /* address of the first tag */
};

#define STIVALE2_STRUCT_TAG_CMDLINE_ID             0xe5e76a1b4597a781ULL
#define STIVALE2_STRUCT_TAG_MEMMAP_ID              0x2187f79e8612de07ULL
#define STIVALE2_STRUCT_TAG_FRAMEBUFFER_ID         0x506461d2950408faULL
#define STIVALE2_STRUCT_TAG_TEXTMODE_ID            0x38d74c23e0dca893ULL
#define STIVALE2_STRUCT_TAG_MODULES_ID             0x4b6fe466aade04ceULL
#define STIVALE2_STRUCT_TAG_RSDP_ID                0x9e1786930a375e78ULL
#define STIVALE2_STRUCT_TAG_SMBIOS_ID              0x274bd246c62bf7d1ULL
#define STIVALE2_STRUCT_TAG_EPOCH_ID               0x566a7bed888e1407ULL
#define STIVALE2_STRUCT_TAG_FIRMWARE_ID            0x359d837855e3858cULL
#define STIVALE2_STRUCT_TAG_EFI_SYSTEM_TABLE_ID    0x4bc5ec15845b558eULL
#define STIVALE2_STRUCT_TAG_KERNEL_BASE_ADDRESS_ID 0x060d78874a2a8af0ULL
#define STIVALE2_STRUCT_TAG_PMRS_ID                0x5df266a64047b6bdULL
#define STIVALE2_STRUCT_TAG_HHDM_ID                0xb0ed257db18cb58fULL

struct stivale2_struct_tag_cmdline {
    struct stivale2_tag tag;
    uint64_t cmdline; /* address of a NUL-terminated string */
};

#define STIVALE2_MMAP_USABLE                 1
#define STIVALE2_MMAP_RESERVED               2
#define STIVALE2_MMAP_ACPI_RECLAIMABLE       3
#define STIVALE2_MMAP_ACPI_NVS               4
#define STIVALE2_MMAP_BAD_MEMORY             5
#define STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE 0x1000
#define STIVALE2_MMAP_KERNEL_AND_MODULES     0x1001
#define STIVALE2_MMAP_FRAMEBUFFER            0x1002

struct stivale2_mmap_entry {
    uint64_t base;
    uint64_t length;
    uint32_t type;
    uint32_t unused;
};

struct stivale2_struct_tag_memmap {
    struct stivale2_tag tag;
    uint64_t entries;
    struct stivale2_mmap_entry memmap[];
};

#define STIVALE2_FBUF_MMODEL_RGB 1

struct stivale2_struct_tag_framebuffer {
    struct stivale2_tag tag;
    uint64_t framebuffer_addr;
    uint16_t framebuffer_width;
    uint16_t framebuffer_height;
    uint16_t framebuffer_pitch;
    uint16_t framebuffer_bpp;
    uint8_t memory_model;
    uint8_t red_mask_size;
    uint8_t red_mask_shift;
    uint8_t green_mask_size;
    uint8_t green_mask_shift;
    uint8_t blue_mask_size;
    uint8_t blue_mask_shift;
    uint8_t unused;
};

struct stivale2_struct_tag_textmode {
    struct stivale2_tag tag;
    uint64_t address;
    uint16_t unused;
    uint16_t rows;
    uint16_t cols;
    uint16_t bytes_per_char;
};

#define STIVALE2_MODULE_STRING_SIZE 128

struct stivale2_module {
    uint64_t begin;
    uint64_t end; /* exclusive */
    char string[STIVALE2_MODULE_STRING_SIZE];
};

struct stivale2_struct_tag_modules {
    struct stivale2_tag tag;
    uint64_t module_count;
    struct stivale2_module modules[];
};

struct stivale2_struct_tag_rsdp {
    struct stivale2_tag tag;
    uint64_t rsdp;
};

struct stivale2_struct_tag_smbios {
    struct stivale2_tag tag;
    uint64_t flags;
    uint64_t smbios_entry_32;
    uint64_t smbios_entry_64;
};

struct stivale2_struct_tag_epoch {
    struct stivale2_tag tag;
    uint64_t epoch;
};

#define STIVALE2_FIRMWARE_BIOS (1 << 0)

struct stivale2_struct_tag_firmware {
    struct stivale2_tag tag;
    uint64_t flags;
};

struct stivale2_struct_tag_efi_system_table {
    struct stivale2_tag tag;
    uint64_t system_table;
};

struct stivale2_struct_tag_kernel_base_address {
    struct stivale2_tag tag;
    uint64_t physical_base_address;
    uint64_t virtual_base_address;
};

#define STIVALE2_PMR_EXECUTABLE ((uint64_t)1 << 0)
#define STIVALE2_PMR_WRITABLE   ((uint64_t)1 << 1)
#define STIVALE2_PMR_READABLE   ((uint64_t)1 << 2)

struct stivale2_pmr {
    uint64_t base;
    uint64_t length;
    uint64_t permissions;
};

struct stivale2_struct_tag_pmrs {
    struct stivale2_tag tag;
    uint64_t entries;
    struct stivale2_pmr pmrs[];
};

_Static_assert(sizeof(struct stivale2_tag) == 16, "stivale2 tag header");
_Static_assert(sizeof(struct stivale2_struct) == 136, "stivale2 struct");
_Static_assert(sizeof(struct stivale2_mmap_entry) == 24, "stivale2 mmap entry");
_Static_assert(sizeof(struct stivale2_module) == 144, "stivale2 module");

/* The first tag with this identifier in info's chain, or NULL. */
void *stivale2_get_tag(const struct stivale2_struct *info, uint64_t id);

/* The log name of a memory-map type: "usable", "reserved", ... */
const char *stivale2_mmap_type_name(uint32_t type);

#endif
