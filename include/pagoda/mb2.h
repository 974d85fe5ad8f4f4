/*
 * The Multiboot2 -> stivale2 boot-info adapter (src/boot/mb2_*.c).
 *
 * GRUB's Multiboot2 information promises little: its memory map may be
 * unsorted, overlapping and unaligned, and it reports the RAM under the
 * kernel, the modules and the info block itself as available. mb2_adapt()
 * reads it defensively (every read checked against the smaller of total_size
 * and the caller's available length) and builds a stivale2-style struct with
 * the stivale2 memory-map guarantees, in storage the caller owns (struct
 * mb2_ctx, no globals: the kernel keeps one static instance, host tests and
 * the fuzzer as many as they like).
 *
 * Capacities are fixed; going past one is a reported problem, never a write
 * past the end. Every problem is kept as one log line in ctx->log (the
 * adapter itself prints nothing, so that the kernel can print them after its
 * first line).
 */
#ifndef PAGODA_MB2_H
#define PAGODA_MB2_H

#include <pagoda/stivale2.h>
#include <pagoda/types.h>

#define MB2_BOOTLOADER_MAGIC 0x36D76289u

#define MB2_MAX_MEMMAP 256                   /* normalised memory-map entries produced */
#define MB2_MAX_INPUT 256                    /* Multiboot2 memory-map entries read */
#define MB2_MAX_MODULES 16                   /* modules kept */
#define MB2_MAX_PMRS 32                      /* protected memory ranges (ELF sections) */
#define MB2_MAX_CARVES (MB2_MAX_MODULES + 3) /* kernel, info, modules, framebuffer */
#define MB2_CMDLINE_MAX 1024                 /* command line, NUL included */
#define MB2_RSDP_MAX 36                      /* an ACPI 2.0 XSDP; a 1.0 RSDP is 20 bytes */
#define MB2_SMBIOS_MAX 32                    /* an SMBIOS 2.x entry point is 31 bytes, 3.x 24 */
#define MB2_LOG_MAX 24                       /* problem lines kept */
#define MB2_LOG_LINE 128                     /* bytes per problem line, NUL included */
#define MB2_INFO_MAX MiB(1)                  /* the kernel never reads more than this */

/* What the adapter cannot learn from the info: where the kernel image and
 * the info block sit in physical memory. Ranges are [start, end). */
struct mb2_env {
    paddr_t kernel_phys_start;
    paddr_t kernel_phys_end;
    vaddr_t kernel_virt_base; /* the virtual address of kernel_phys_start */
    paddr_t info_phys;        /* physical address of the info block */
    /* len readable bytes at physical pa, or NULL; lets the adapter follow
     * the EFI system table (SMBIOS). NULL: never read beyond the info. */
    const void *(*read_phys)(paddr_t pa, size_t len);
};

/* A range while the map is normalised: [base, last], last inclusive so that
 * a range may end exactly at 2^64. */
struct mb2_range {
    uint64_t base;
    uint64_t last;
    uint32_t type; /* a STIVALE2_MMAP_* type */
};

/* Where the tags the adapter uses were found: offsets into the info, 0 when
 * absent (offset 0 is the info header, never a tag). */
struct mb2_found {
    uint32_t cmdline, loader, meminfo, memmap, framebuffer, elf_sections;
    uint32_t acpi_old, acpi_new, smbios, efi32, efi64, efi_mmap, load_base;
    uint32_t module[MB2_MAX_MODULES];
    uint32_t nmodules;
    bool efi; /* any EFI tag (11, 12, 17, 18, 19, 20) */
    bool end; /* the END tag was seen */
};

/* Fixed-capacity storage for the three variable-length tags: the same layout
 * as the stivale2 struct with its flexible array (checked below), which
 * consumers use; a flexible array cannot sit inside struct mb2_ctx. */
struct mb2_memmap_store {
    struct stivale2_tag tag;
    uint64_t entries;
    struct stivale2_mmap_entry memmap[MB2_MAX_MEMMAP];
};
struct mb2_modules_store {
    struct stivale2_tag tag;
    uint64_t module_count;
    struct stivale2_module modules[MB2_MAX_MODULES];
};
struct mb2_pmrs_store {
    struct stivale2_tag tag;
    uint64_t entries;
    struct stivale2_pmr pmrs[MB2_MAX_PMRS];
};
_Static_assert(offsetof(struct mb2_memmap_store, memmap) ==
                   offsetof(struct stivale2_struct_tag_memmap, memmap),
               "memmap layout");
_Static_assert(offsetof(struct mb2_modules_store, modules) ==
                   offsetof(struct stivale2_struct_tag_modules, modules),
               "modules layout");
_Static_assert(offsetof(struct mb2_pmrs_store, pmrs) ==
                   offsetof(struct stivale2_struct_tag_pmrs, pmrs),
               "pmrs layout");

struct mb2_ctx {
    /* The result; its tags point into the storage below. */
    struct stivale2_struct info;

    /* Problems, one line each ("tag 6 (memory map): ..."). */
    char log[MB2_LOG_MAX][MB2_LOG_LINE];
    unsigned nlog;      /* lines kept */
    unsigned nproblems; /* problems reported, kept or not */

    /* Facts for the kernel's boot log. */
    bool memmap_from_meminfo; /* the map was built from the basic meminfo */
    uint32_t efi_descriptors; /* > 0: the map was built from the EFI memory map */
    bool smbios_from_efi;     /* SMBIOS found through the EFI configuration table */
    uint32_t info_size;       /* bytes of info read (total_size, clipped) */

    /* Working state. */
    const uint8_t *mbi;
    uint32_t limit;
    struct mb2_found found;
    struct mb2_range in[MB2_MAX_INPUT];
    unsigned nin;
    struct mb2_range carve[MB2_MAX_CARVES];
    unsigned ncarve;
    uint64_t points[2 * (MB2_MAX_INPUT + MB2_MAX_CARVES)];

    /* Kernel-owned storage the tags live in. */
    char cmdline[MB2_CMDLINE_MAX];
    uint8_t rsdp[MB2_RSDP_MAX];
    uint8_t smbios[MB2_SMBIOS_MAX];
    struct stivale2_struct_tag_cmdline cmdline_tag;
    struct mb2_memmap_store memmap;
    struct mb2_modules_store modules;
    struct mb2_pmrs_store pmrs;
    struct stivale2_struct_tag_framebuffer framebuffer;
    struct stivale2_struct_tag_textmode textmode;
    struct stivale2_struct_tag_rsdp rsdp_tag;
    struct stivale2_struct_tag_smbios smbios_tag;
    struct stivale2_struct_tag_firmware firmware;
    struct stivale2_struct_tag_efi_system_table efi_system_table;
    struct stivale2_struct_tag_kernel_base_address kernel_base;
    struct stivale2_tag *last_tag; /* end of the chain while building */
};

/*
 * Build ctx->info from the Multiboot2 info at `mbi` (readable for `avail`
 * bytes). ctx is wiped first. Returns 0 when a memory map was built,
 * -E_NOENT when none could be (no usable memory-map or meminfo tag: the
 * caller must not go on), -E_INVAL when the info is unreadable (too short).
 * In every case ctx->info is a valid, possibly empty, stivale2 struct.
 */
int mb2_adapt(struct mb2_ctx *ctx, const void *mbi, size_t avail, const struct mb2_env *env);

/* Check a normalised map: sorted, non-overlapping, non-empty entries of
 * known types, usable and bootloader-reclaimable 4 KiB aligned, neighbours of
 * one type merged. Returns NULL when it holds, else what is wrong. */
const char *mb2_memmap_verify(const struct stivale2_struct_tag_memmap *m);

#endif
