/*
 * Validated walking of the Multiboot2 information tags.
 *
 * Theory of operation: the info is `u32 total_size, u32 reserved` and then
 * tags `u32 type, u32 size`, each starting on an 8-byte boundary and the last
 * one END (type 0, size 8). Nothing in it is trusted. Every read is checked
 * against ctx->limit (total_size clipped to what the caller can read), with
 * 64-bit arithmetic so that no sum wraps. A tag header we cannot trust (size
 * below 8, zero, or running past the end) ends the walk: the position of the
 * next tag depends on it. A tag that is merely too small for its type, or a
 * second copy of a tag that should be unique, is reported and skipped, and
 * the walk goes on. The walk records offsets only (ctx->found); the builders
 * in mb2_adapter.c and mb2_memmap.c read the contents.
 *
 * Cost: one pass over the tags, O(total_size). Weakness: tags this adapter
 * does not know are skipped without a word, as the spec asks.
 */
#include <pagoda/printk.h>

#include "mb2_internal.h"

static const char *tag_name(uint32_t type)
{
    switch (type) {
    case MB2_TAG_END:
        return "end";
    case MB2_TAG_CMDLINE:
        return "command line";
    case MB2_TAG_LOADER:
        return "boot loader name";
    case MB2_TAG_MODULE:
        return "module";
    case MB2_TAG_MEMINFO:
        return "basic meminfo";
    case MB2_TAG_BOOTDEV:
        return "boot device";
    case MB2_TAG_MMAP:
        return "memory map";
    case MB2_TAG_FRAMEBUFFER:
        return "framebuffer";
    case MB2_TAG_ELF_SECTIONS:
        return "ELF sections";
    case MB2_TAG_EFI32:
        return "EFI32 system table";
    case MB2_TAG_EFI64:
        return "EFI64 system table";
    case MB2_TAG_SMBIOS:
        return "SMBIOS";
    case MB2_TAG_ACPI_OLD:
        return "ACPI old RSDP";
    case MB2_TAG_ACPI_NEW:
        return "ACPI new RSDP";
    case MB2_TAG_EFI_MMAP:
        return "EFI memory map";
    case MB2_TAG_LOAD_BASE:
        return "load base address";
    default:
        return "unknown";
    }
}

static void vreport(struct mb2_ctx *ctx, const char *prefix, const char *fmt, va_list ap)
{
    ctx->nproblems++;
    if (ctx->nlog >= MB2_LOG_MAX)
        return;
    char *line = ctx->log[ctx->nlog++];
    size_t n = kstrlcpy(line, prefix, MB2_LOG_LINE);
    if (n < MB2_LOG_LINE)
        kvsnprintf(line + n, MB2_LOG_LINE - n, fmt, ap);
}

void mb2_report(struct mb2_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ctx, "", fmt, ap);
    va_end(ap);
}

void mb2_report_tag(struct mb2_ctx *ctx, uint32_t type, const char *fmt, ...)
{
    char prefix[48];
    ksnprintf(prefix, sizeof(prefix), "tag %u (%s): ", type, tag_name(type));
    va_list ap;
    va_start(ap, fmt);
    vreport(ctx, prefix, fmt, ap);
    va_end(ap);
}

const char *mb2_tag_string(struct mb2_ctx *ctx, uint32_t off, uint32_t skip)
{
    uint32_t type = mb2_rd32(ctx->mbi + off), size = mb2_rd32(ctx->mbi + off + 4);
    const char *s = (const char *)ctx->mbi + off + skip;
    if (size <= skip || strnlen(s, size - skip) == size - skip) {
        mb2_report_tag(ctx, type, "string at offset %u has no NUL inside the tag: ignored", off);
        return NULL;
    }
    return s;
}

/* The smallest size a tag of this type may have to hold its fixed fields
 * (and, for strings, at least the NUL). */
static uint32_t min_size(uint32_t type)
{
    switch (type) {
    case MB2_TAG_CMDLINE:
    case MB2_TAG_LOADER:
        return 9;
    case MB2_TAG_MODULE:
        return 17;
    case MB2_TAG_MEMINFO:
        return 16;
    case MB2_TAG_MMAP:
        return 16;
    case MB2_TAG_FRAMEBUFFER:
        return 32;
    case MB2_TAG_ELF_SECTIONS:
        return 20;
    case MB2_TAG_EFI32:
        return 12;
    case MB2_TAG_EFI64:
        return 16;
    case MB2_TAG_SMBIOS:
        return 16 + 4;
    case MB2_TAG_ACPI_OLD:
        return 8 + 20;
    case MB2_TAG_ACPI_NEW:
        return 8 + 36;
    case MB2_TAG_EFI_MMAP:
        return 16;
    case MB2_TAG_LOAD_BASE:
        return 12;
    default:
        return 8;
    }
}

/* The slot of a tag that may appear once, or NULL. */
static uint32_t *unique_slot(struct mb2_found *f, uint32_t type)
{
    switch (type) {
    case MB2_TAG_CMDLINE:
        return &f->cmdline;
    case MB2_TAG_LOADER:
        return &f->loader;
    case MB2_TAG_MEMINFO:
        return &f->meminfo;
    case MB2_TAG_MMAP:
        return &f->memmap;
    case MB2_TAG_FRAMEBUFFER:
        return &f->framebuffer;
    case MB2_TAG_ELF_SECTIONS:
        return &f->elf_sections;
    case MB2_TAG_EFI32:
        return &f->efi32;
    case MB2_TAG_EFI64:
        return &f->efi64;
    case MB2_TAG_SMBIOS:
        return &f->smbios;
    case MB2_TAG_ACPI_OLD:
        return &f->acpi_old;
    case MB2_TAG_ACPI_NEW:
        return &f->acpi_new;
    case MB2_TAG_EFI_MMAP:
        return &f->efi_mmap;
    case MB2_TAG_LOAD_BASE:
        return &f->load_base;
    default:
        return NULL;
    }
}

static void classify(struct mb2_ctx *ctx, uint32_t type, uint32_t off, uint32_t size)
{
    struct mb2_found *f = &ctx->found;

    if (type == MB2_TAG_EFI32 || type == MB2_TAG_EFI64 || type == MB2_TAG_EFI_MMAP ||
        type == MB2_TAG_EFI_BS || type == MB2_TAG_EFI32_IH || type == MB2_TAG_EFI64_IH)
        f->efi = true;
    if (size < min_size(type)) {
        mb2_report_tag(ctx, type, "size %u at offset %u is below the %u its fields need: ignored",
                       size, off, min_size(type));
        return;
    }
    if (type == MB2_TAG_MODULE) {
        if (f->nmodules < MB2_MAX_MODULES)
            f->module[f->nmodules++] = off;
        else
            mb2_report_tag(ctx, type, "more than %u modules: the one at offset %u is ignored",
                           MB2_MAX_MODULES, off);
        return;
    }
    uint32_t *slot = unique_slot(f, type);
    if (!slot)
        return;
    if (*slot) {
        mb2_report_tag(ctx, type, "duplicate at offset %u: the first one (offset %u) is kept", off,
                       *slot);
        return;
    }
    *slot = off;
}

void mb2_parse(struct mb2_ctx *ctx)
{
    uint64_t off = 8; /* after total_size and reserved */

    for (;;) {
        if (off + 8 > ctx->limit) {
            mb2_report(ctx, "info: missing END tag (the tags stop at offset %llu of %u)",
                       (unsigned long long)off, ctx->limit);
            return;
        }
        uint32_t type = mb2_rd32(ctx->mbi + off), size = mb2_rd32(ctx->mbi + off + 4);
        if (size == 0) {
            mb2_report_tag(ctx, type, "zero size at offset %llu: the tags after it are lost",
                           (unsigned long long)off);
            return;
        }
        if (size < 8) {
            mb2_report_tag(ctx, type, "size %u < 8 at offset %llu: the tags after it are lost",
                           size, (unsigned long long)off);
            return;
        }
        if (off + size > ctx->limit) {
            mb2_report_tag(ctx, type, "size %u at offset %llu runs past the end (%u bytes)", size,
                           (unsigned long long)off, ctx->limit);
            return;
        }
        if (type == MB2_TAG_END) {
            if (size != 8)
                mb2_report_tag(ctx, type, "size %u, should be 8", size);
            ctx->found.end = true;
            return;
        }
        classify(ctx, type, (uint32_t)off, size);
        off = ALIGN_UP(off + size, 8); /* the next tag starts 8-byte aligned */
    }
}
