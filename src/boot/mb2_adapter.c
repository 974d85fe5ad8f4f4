/*
 * mb2_adapt: the stivale2 struct from a Multiboot2 info.
 *
 * Order: walk and validate the tags (mb2_parse.c); take the loader name and
 * command line; collect the raw memory map; check the modules against it;
 * carve out the kernel, the modules, the info block and a framebuffer in RAM;
 * normalise the map (mb2_memmap.c); then the small tags (SMBIOS through the
 * EFI system table when GRUB gave no tag for it, mb2_efi.c). Each builder copies
 * what it keeps into ctx, so nothing in the result points into the info
 * block, which the PMM may reclaim later. Module begin/end, framebuffer and
 * text-mode addresses are physical; every other address in the result
 * (tags, cmdline, RSDP and SMBIOS copies) is a pointer into ctx.
 */
#include <pagoda/errno.h>
#include <pagoda/printk.h>

#include "mb2_internal.h"

#define SHF_WRITE 0x1
#define SHF_ALLOC 0x2
#define SHF_EXECINSTR 0x4
#define ELF64_SHDR_SIZE 64

void mb2_link(struct mb2_ctx *ctx, struct stivale2_tag *tag, uint64_t id)
{
    tag->identifier = id;
    tag->next = 0;
    if (ctx->last_tag)
        ctx->last_tag->next = (uint64_t)(uintptr_t)tag;
    else
        ctx->info.tags = (uint64_t)(uintptr_t)tag;
    ctx->last_tag = tag;
}

/* "GRUB 2.06-13+deb12u2" -> brand "GRUB", version "2.06-13+deb12u2". */
static void build_brand(struct mb2_ctx *ctx)
{
    if (!ctx->found.loader)
        return;
    const char *s = mb2_tag_string(ctx, ctx->found.loader, 8);
    if (!s)
        return;
    size_t n = 0;
    while (s[n] && s[n] != ' ')
        n++;
    size_t keep = MIN(n, sizeof(ctx->info.bootloader_brand) - 1);
    memcpy(ctx->info.bootloader_brand, s, keep);
    ctx->info.bootloader_brand[keep] = '\0';
    kstrlcpy(ctx->info.bootloader_version, s[n] ? s + n + 1 : "",
             sizeof(ctx->info.bootloader_version));
}

static void build_cmdline(struct mb2_ctx *ctx)
{
    if (!ctx->found.cmdline)
        return;
    const char *s = mb2_tag_string(ctx, ctx->found.cmdline, 8);
    if (!s)
        return;
    if (kstrlcpy(ctx->cmdline, s, sizeof(ctx->cmdline)) >= sizeof(ctx->cmdline))
        mb2_report_tag(ctx, MB2_TAG_CMDLINE, "longer than %u bytes: truncated",
                       MB2_CMDLINE_MAX - 1);
    ctx->cmdline_tag.cmdline = (uint64_t)(uintptr_t)ctx->cmdline;
    mb2_link(ctx, &ctx->cmdline_tag.tag, STIVALE2_STRUCT_TAG_CMDLINE_ID);
}

/* Keep the valid modules and carve them out; they must lie in RAM. */
static void build_modules(struct mb2_ctx *ctx, const struct mb2_env *env)
{
    struct mb2_modules_store *mt = &ctx->modules;
    for (uint32_t i = 0; i < ctx->found.nmodules; i++) {
        uint32_t off = ctx->found.module[i];
        const uint8_t *t = ctx->mbi + off;
        uint64_t start = mb2_rd32(t + 8), end = mb2_rd32(t + 12);
        const char *name = mb2_tag_string(ctx, off, 16);
        if (!name)
            continue;
        if (end < start) {
            mb2_report_tag(ctx, MB2_TAG_MODULE,
                           "\"%s\" ends (0x%llx) before it starts (0x%llx): "
                           "dropped",
                           name, (unsigned long long)end, (unsigned long long)start);
            continue;
        }
        if (!mb2_memmap_covers(ctx, start, end)) {
            mb2_report_tag(ctx, MB2_TAG_MODULE, "\"%s\" [0x%llx, 0x%llx) is outside RAM: dropped",
                           name, (unsigned long long)start, (unsigned long long)end);
            continue;
        }
        if (start < env->kernel_phys_end && end > env->kernel_phys_start)
            mb2_report_tag(ctx, MB2_TAG_MODULE, "\"%s\" [0x%llx, 0x%llx) overlaps the kernel image",
                           name, (unsigned long long)start, (unsigned long long)end);
        struct stivale2_module *m = &mt->modules[mt->module_count++];
        m->begin = start;
        m->end = end;
        if (kstrlcpy(m->string, name, sizeof(m->string)) >= sizeof(m->string))
            mb2_report_tag(ctx, MB2_TAG_MODULE, "name longer than %u bytes: truncated",
                           STIVALE2_MODULE_STRING_SIZE - 1);
        mb2_memmap_carve(ctx, start, end, STIVALE2_MMAP_KERNEL_AND_MODULES);
    }
}

static bool fits16(struct mb2_ctx *ctx, const char *what, uint32_t v)
{
    if (v <= 0xFFFF)
        return true;
    mb2_report_tag(ctx, MB2_TAG_FRAMEBUFFER, "%s %u does not fit 16 bits: ignored", what, v);
    return false;
}

static void build_framebuffer(struct mb2_ctx *ctx)
{
    if (!ctx->found.framebuffer)
        return;
    const uint8_t *t = ctx->mbi + ctx->found.framebuffer;
    uint32_t size = mb2_rd32(t + 4);
    uint64_t addr = mb2_rd64(t + 8);
    uint32_t pitch = mb2_rd32(t + 16), width = mb2_rd32(t + 20), height = mb2_rd32(t + 24);
    uint8_t bpp = mb2_rd8(t + 28), type = mb2_rd8(t + 29);

    if (!fits16(ctx, "width", width) || !fits16(ctx, "height", height) ||
        !fits16(ctx, "pitch", pitch))
        return;
    if (type == 2) { /* EGA text */
        struct stivale2_struct_tag_textmode *tm = &ctx->textmode;
        tm->address = addr;
        tm->rows = (uint16_t)height;
        tm->cols = (uint16_t)width;
        tm->bytes_per_char = 2;
        mb2_link(ctx, &tm->tag, STIVALE2_STRUCT_TAG_TEXTMODE_ID);
        return;
    }
    if (type != 1) {
        mb2_report_tag(ctx, MB2_TAG_FRAMEBUFFER, "colour type %u is not RGB: ignored", type);
        return;
    }
    if (size < 38) {
        mb2_report_tag(ctx, MB2_TAG_FRAMEBUFFER, "size %u too small for RGB colour info: ignored",
                       size);
        return;
    }
    struct stivale2_struct_tag_framebuffer *fb = &ctx->framebuffer;
    fb->framebuffer_addr = addr;
    fb->framebuffer_width = (uint16_t)width;
    fb->framebuffer_height = (uint16_t)height;
    fb->framebuffer_pitch = (uint16_t)pitch;
    fb->framebuffer_bpp = bpp;
    fb->memory_model = STIVALE2_FBUF_MMODEL_RGB;
    fb->red_mask_shift = mb2_rd8(t + 32);
    fb->red_mask_size = mb2_rd8(t + 33);
    fb->green_mask_shift = mb2_rd8(t + 34);
    fb->green_mask_size = mb2_rd8(t + 35);
    fb->blue_mask_shift = mb2_rd8(t + 36);
    fb->blue_mask_size = mb2_rd8(t + 37);
    mb2_link(ctx, &fb->tag, STIVALE2_STRUCT_TAG_FRAMEBUFFER_ID);
    uint64_t bytes = (uint64_t)pitch * height;
    if (addr + bytes > addr)
        mb2_memmap_carve(ctx, addr, addr + bytes, STIVALE2_MMAP_FRAMEBUFFER);
}

/* A copy of the RSDP the kernel owns: the new (ACPI 2.0) tag, else the old. */
static void build_rsdp(struct mb2_ctx *ctx)
{
    uint32_t tags[2] = {ctx->found.acpi_new, ctx->found.acpi_old};
    uint32_t types[2] = {MB2_TAG_ACPI_NEW, MB2_TAG_ACPI_OLD};
    for (int i = 0; i < 2; i++) {
        if (!tags[i])
            continue;
        const uint8_t *t = ctx->mbi + tags[i];
        if (memcmp(t + 8, "RSD PTR ", 8) != 0) {
            mb2_report_tag(ctx, types[i], "no \"RSD PTR \" signature: ignored");
            continue;
        }
        memcpy(ctx->rsdp, t + 8, MIN(mb2_rd32(t + 4) - 8, (uint32_t)MB2_RSDP_MAX));
        ctx->rsdp_tag.rsdp = (uint64_t)(uintptr_t)ctx->rsdp;
        mb2_link(ctx, &ctx->rsdp_tag.tag, STIVALE2_STRUCT_TAG_RSDP_ID);
        return;
    }
}

static void build_smbios(struct mb2_ctx *ctx, const struct mb2_env *env)
{
    struct stivale2_struct_tag_smbios *st = &ctx->smbios_tag;
    if (!ctx->found.smbios && ctx->found.efi64) {
        /* GRUB 2.06 on UEFI: only the firmware's configuration table has it. */
        bool is64 = false;
        if (!mb2_efi_smbios(ctx, env, mb2_rd64(ctx->mbi + ctx->found.efi64 + 8), ctx->smbios,
                            sizeof(ctx->smbios), &is64))
            return;
        if (is64)
            st->smbios_entry_64 = (uint64_t)(uintptr_t)ctx->smbios;
        else
            st->smbios_entry_32 = (uint64_t)(uintptr_t)ctx->smbios;
        ctx->smbios_from_efi = true;
        mb2_link(ctx, &st->tag, STIVALE2_STRUCT_TAG_SMBIOS_ID);
        return;
    }
    if (!ctx->found.smbios)
        return;
    const uint8_t *t = ctx->mbi + ctx->found.smbios;
    uint32_t len = mb2_rd32(t + 4) - 16;
    if (len >= 5 && memcmp(t + 16, "_SM3_", 5) == 0)
        st->smbios_entry_64 = (uint64_t)(uintptr_t)ctx->smbios;
    else if (memcmp(t + 16, "_SM_", 4) == 0)
        st->smbios_entry_32 = (uint64_t)(uintptr_t)ctx->smbios;
    else {
        mb2_report_tag(ctx, MB2_TAG_SMBIOS, "no _SM_ or _SM3_ anchor: ignored");
        return;
    }
    memcpy(ctx->smbios, t + 16, MIN(len, (uint32_t)MB2_SMBIOS_MAX));
    mb2_link(ctx, &st->tag, STIVALE2_STRUCT_TAG_SMBIOS_ID);
}

static void build_firmware(struct mb2_ctx *ctx)
{
    ctx->firmware.flags = ctx->found.efi ? 0 : STIVALE2_FIRMWARE_BIOS;
    mb2_link(ctx, &ctx->firmware.tag, STIVALE2_STRUCT_TAG_FIRMWARE_ID);
    uint32_t off = ctx->found.efi64 ? ctx->found.efi64 : ctx->found.efi32;
    if (!off)
        return;
    ctx->efi_system_table.system_table =
        ctx->found.efi64 ? mb2_rd64(ctx->mbi + off + 8) : mb2_rd32(ctx->mbi + off + 8);
    mb2_link(ctx, &ctx->efi_system_table.tag, STIVALE2_STRUCT_TAG_EFI_SYSTEM_TABLE_ID);
}

/* Insert a protected range in base order, merging with a touching range of
 * the same permissions. */
static void add_pmr(struct mb2_ctx *ctx, uint64_t base, uint64_t len, uint64_t perms)
{
    struct mb2_pmrs_store *pt = &ctx->pmrs;
    struct stivale2_pmr *p = pt->pmrs;
    uint64_t n = pt->entries, i = 0;
    while (i < n && p[i].base < base)
        i++;
    if (i > 0 && p[i - 1].permissions == perms && p[i - 1].base + p[i - 1].length == base) {
        p[i - 1].length += len;
        return;
    }
    if (i < n && p[i].permissions == perms && base + len == p[i].base) {
        p[i].base = base;
        p[i].length += len;
        return;
    }
    if (n == MB2_MAX_PMRS) {
        mb2_report_tag(ctx, MB2_TAG_ELF_SECTIONS, "more than %u ranges: 0x%llx not kept",
                       MB2_MAX_PMRS, (unsigned long long)base);
        return;
    }
    memmove(&p[i + 1], &p[i], (size_t)(n - i) * sizeof(*p));
    p[i] = (struct stivale2_pmr){base, len, perms};
    pt->entries = n + 1;
}

/* PMRS: the kernel's allocated ELF sections with their permissions. */
static void build_pmrs(struct mb2_ctx *ctx)
{
    if (!ctx->found.elf_sections)
        return;
    const uint8_t *t = ctx->mbi + ctx->found.elf_sections;
    uint32_t size = mb2_rd32(t + 4), num = mb2_rd32(t + 8), entsize = mb2_rd32(t + 12);
    if (entsize < ELF64_SHDR_SIZE) {
        mb2_report_tag(ctx, MB2_TAG_ELF_SECTIONS, "entsize %u is not an ELF64 header's: ignored",
                       entsize);
        return;
    }
    if ((uint64_t)num * entsize > size - 20) {
        mb2_report_tag(ctx, MB2_TAG_ELF_SECTIONS,
                       "%u headers of %u bytes run past the tag: "
                       "ignored",
                       num, entsize);
        return;
    }
    for (uint32_t i = 0; i < num; i++) {
        const uint8_t *sh = t + 20 + (uint64_t)i * entsize;
        uint64_t flags = mb2_rd64(sh + 8), addr = mb2_rd64(sh + 16), len = mb2_rd64(sh + 32);
        if (!(flags & SHF_ALLOC) || len == 0)
            continue;
        if (addr + len < addr) {
            mb2_report_tag(ctx, MB2_TAG_ELF_SECTIONS, "section %u wraps past 2^64: ignored", i);
            continue;
        }
        uint64_t perms = STIVALE2_PMR_READABLE | (flags & SHF_WRITE ? STIVALE2_PMR_WRITABLE : 0) |
                         (flags & SHF_EXECINSTR ? STIVALE2_PMR_EXECUTABLE : 0);
        add_pmr(ctx, addr, len, perms);
    }
    mb2_link(ctx, &ctx->pmrs.tag, STIVALE2_STRUCT_TAG_PMRS_ID);
}

int mb2_adapt(struct mb2_ctx *ctx, const void *mbi, size_t avail, const struct mb2_env *env)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->mbi = mbi;
    if (!mbi || avail < 16) {
        mb2_report(ctx, "info: %zu bytes, fewer than the 16 of a header and END", mbi ? avail : 0);
        return -E_INVAL;
    }
    if ((uintptr_t)mbi & 7)
        mb2_report(ctx, "info: at %p, not 8-byte aligned", mbi);
    uint32_t total = mb2_rd32(ctx->mbi);
    if (total < 16) {
        mb2_report(ctx, "info: total_size %u is below 16", total);
        return -E_INVAL;
    }
    ctx->limit = total;
    if (total > avail) {
        mb2_report(ctx, "info: total_size %u is past the %zu bytes readable: clipped", total,
                   avail);
        ctx->limit = (uint32_t)avail;
    }
    ctx->info_size = ctx->limit;

    mb2_parse(ctx);
    build_brand(ctx);
    build_cmdline(ctx);
    bool have_map = mb2_memmap_collect(ctx);

    build_modules(ctx, env);
    if (env->kernel_phys_end > env->kernel_phys_start) {
        if (have_map && !mb2_memmap_covers(ctx, env->kernel_phys_start, env->kernel_phys_end))
            mb2_report(ctx, "memmap: the kernel image [0x%llx, 0x%llx) is not all in RAM",
                       (unsigned long long)env->kernel_phys_start,
                       (unsigned long long)env->kernel_phys_end);
        mb2_memmap_carve(ctx, env->kernel_phys_start, env->kernel_phys_end,
                         STIVALE2_MMAP_KERNEL_AND_MODULES);
    }
    mb2_memmap_carve(ctx, env->info_phys, env->info_phys + ctx->info_size,
                     STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE);
    build_framebuffer(ctx);
    if (have_map) {
        mb2_memmap_build(ctx);
        mb2_link(ctx, &ctx->memmap.tag, STIVALE2_STRUCT_TAG_MEMMAP_ID);
    }
    mb2_link(ctx, &ctx->modules.tag, STIVALE2_STRUCT_TAG_MODULES_ID);
    build_rsdp(ctx);
    build_smbios(ctx, env);
    build_firmware(ctx);
    ctx->kernel_base.physical_base_address = env->kernel_phys_start;
    ctx->kernel_base.virtual_base_address = env->kernel_virt_base;
    mb2_link(ctx, &ctx->kernel_base.tag, STIVALE2_STRUCT_TAG_KERNEL_BASE_ADDRESS_ID);
    build_pmrs(ctx);
    return have_map ? 0 : -E_NOENT;
}
