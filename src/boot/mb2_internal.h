/* Private to the Multiboot2 adapter (src/boot/mb2_*.c). */
#ifndef PAGODA_BOOT_MB2_INTERNAL_H
#define PAGODA_BOOT_MB2_INTERNAL_H

#include <pagoda/mb2.h>
#include <pagoda/string.h>

/* Multiboot2 information tag types (GRUB 2.06). */
#define MB2_TAG_END 0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_LOADER 2
#define MB2_TAG_MODULE 3
#define MB2_TAG_MEMINFO 4
#define MB2_TAG_BOOTDEV 5
#define MB2_TAG_MMAP 6
#define MB2_TAG_FRAMEBUFFER 8
#define MB2_TAG_ELF_SECTIONS 9
#define MB2_TAG_EFI32 11
#define MB2_TAG_EFI64 12
#define MB2_TAG_SMBIOS 13
#define MB2_TAG_ACPI_OLD 14
#define MB2_TAG_ACPI_NEW 15
#define MB2_TAG_EFI_MMAP 17
#define MB2_TAG_EFI_BS 18
#define MB2_TAG_EFI32_IH 19
#define MB2_TAG_EFI64_IH 20
#define MB2_TAG_LOAD_BASE 21

/* Reads of possibly unaligned little-endian fields: memcpy, never a cast, so
 * that a misaligned info (or fuzzer input) is not undefined behaviour. */
static inline uint8_t mb2_rd8(const uint8_t *p)
{
    return *p;
}
static inline uint16_t mb2_rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}
static inline uint32_t mb2_rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}
static inline uint64_t mb2_rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Record a problem line (kept while there is room; always counted). */
void mb2_report(struct mb2_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a problem about tag `type`: "tag 6 (memory map): <reason>". */
void mb2_report_tag(struct mb2_ctx *ctx, uint32_t type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Walk the tags of ctx->mbi (ctx->limit bytes), validating each, and fill
 * ctx->found. */
void mb2_parse(struct mb2_ctx *ctx);

/* A NUL-terminated string at tag offset `off` + `skip`, or NULL (reported)
 * when the tag holds no NUL. */
const char *mb2_tag_string(struct mb2_ctx *ctx, uint32_t off, uint32_t skip);

/* Collect ctx->in from the memory-map tag, else from the basic meminfo.
 * Returns false when neither gives a single entry. */
bool mb2_memmap_collect(struct mb2_ctx *ctx);
/* True when [base, end) lies wholly inside available input entries and no
 * more restrictive input entry overlaps it (it is usable in the final map). */
bool mb2_memmap_covers(const struct mb2_ctx *ctx, uint64_t base, uint64_t end);
/* Add a carve-out [base, end), rounded outwards to pages. */
void mb2_memmap_carve(struct mb2_ctx *ctx, uint64_t base, uint64_t end, uint32_t type);
/* Normalise ctx->in and ctx->carve into ctx->memmap. */
void mb2_memmap_build(struct mb2_ctx *ctx);

/* The SMBIOS entry point through the EFI system table at `systab` (via
 * env->read_phys): copied to out (up to out_size bytes); *is64 for a 3.x
 * entry point. False when there is none or it cannot be read (reported). */
bool mb2_efi_smbios(struct mb2_ctx *ctx, const struct mb2_env *env, uint64_t systab,
                    uint8_t *out, size_t out_size, bool *is64);

/* Append a built tag to the chain of ctx->info. */
void mb2_link(struct mb2_ctx *ctx, struct stivale2_tag *tag, uint64_t id);

#endif
