/*
 * The kernel's side of the boot-info adapter: one static adapter context,
 * filled from GRUB's info in kmain, and the boot-log lines that describe it.
 *
 * The adapter runs before anything is printed (so that kmain's first line
 * can name the boot loader); its problem lines are printed afterwards by
 * boot_info_print, with the map. Modules are read through the early
 * identity map of 0..4 GiB to print their CRC-32.
 */
#include <pagoda/bootinfo.h>
#include <pagoda/crc32.h>
#include <pagoda/errno.h>
#include <pagoda/mb2.h>
#include <pagoda/memlayout.h>
#include <pagoda/printk.h>

extern const char __kernel_phys_start[], __kernel_phys_end[];

static struct mb2_ctx ctx;
static uint32_t boot_magic, boot_mbi_phys;
static int adapt_status = -E_INVAL;
static char loader[sizeof(ctx.info.bootloader_brand) + sizeof(ctx.info.bootloader_version)];

/* Physical memory as the boot identity map shows it (0..4 GiB, until
 * vmm_init): for the adapter's look at the EFI system table. */
static const void *early_read_phys(paddr_t pa, size_t len)
{
    if (pa == 0 || len > EARLY_IDENTITY_LIMIT || pa > EARLY_IDENTITY_LIMIT - len)
        return NULL;
    return (const void *)(uintptr_t)pa;
}

void boot_info_init(uint32_t magic, uint32_t mbi_phys)
{
    boot_magic = magic;
    boot_mbi_phys = mbi_phys;
    if (magic != MB2_BOOTLOADER_MAGIC || mbi_phys == 0)
        return;
    struct mb2_env env = {
        .read_phys = early_read_phys,
        .kernel_phys_start = (paddr_t)(uintptr_t)__kernel_phys_start,
        .kernel_phys_end = (paddr_t)(uintptr_t)__kernel_phys_end,
        .kernel_virt_base = KERNEL_VMA + (uintptr_t)__kernel_phys_start,
        .info_phys = mbi_phys,
    };
    /* Readable: the identity map up to 4 GiB, but never more than
     * MB2_INFO_MAX, so a garbage total_size cannot walk us into MMIO. */
    size_t avail = MIN(EARLY_IDENTITY_LIMIT - mbi_phys, MB2_INFO_MAX);
    adapt_status = mb2_adapt(&ctx, (const void *)(uintptr_t)mbi_phys, avail, &env);
    if (ctx.info.bootloader_brand[0])
        ksnprintf(loader, sizeof(loader), "%s%s%s", ctx.info.bootloader_brand,
                  ctx.info.bootloader_version[0] ? " " : "", ctx.info.bootloader_version);
}

struct stivale2_struct *boot_info_get(void)
{
    return &ctx.info;
}

const char *boot_info_loader(void)
{
    return loader[0] ? loader : NULL;
}

const char *boot_info_cmdline(void)
{
    struct stivale2_struct_tag_cmdline *c =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_CMDLINE_ID);
    return c ? (const char *)(uintptr_t)c->cmdline : "";
}

static void print_memmap(const struct stivale2_struct_tag_memmap *m)
{
    static const uint32_t types[] = {
        STIVALE2_MMAP_USABLE,
        STIVALE2_MMAP_RESERVED,
        STIVALE2_MMAP_ACPI_RECLAIMABLE,
        STIVALE2_MMAP_ACPI_NVS,
        STIVALE2_MMAP_BAD_MEMORY,
        STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE,
        STIVALE2_MMAP_KERNEL_AND_MODULES,
        STIVALE2_MMAP_FRAMEBUFFER,
    };
    for (uint64_t i = 0; i < m->entries; i++)
        printk("memmap: base=0x%016llx length=0x%016llx type=%s\n",
               (unsigned long long)m->memmap[i].base, (unsigned long long)m->memmap[i].length,
               stivale2_mmap_type_name(m->memmap[i].type));
    for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
        uint64_t sum = 0;
        for (uint64_t i = 0; i < m->entries; i++)
            if (m->memmap[i].type == types[t])
                sum += m->memmap[i].length;
        if (sum)
            printk("memmap: total type=%s length=0x%016llx (%llu KiB)\n",
                   stivale2_mmap_type_name(types[t]), (unsigned long long)sum,
                   (unsigned long long)(sum >> 10));
    }
}

static void print_modules(const struct stivale2_struct_tag_modules *mt)
{
    for (uint64_t i = 0; i < mt->module_count; i++) {
        const struct stivale2_module *m = &mt->modules[i];
        /* Below 4 GiB (Multiboot2 gives 32-bit bounds): identity-mapped. */
        uint64_t size = m->end - m->begin;
        uint32_t crc = crc32((const void *)(uintptr_t)m->begin, (size_t)size);
        printk("module: base=0x%llx size=%llu crc32=0x%08x name=%s\n", (unsigned long long)m->begin,
               (unsigned long long)size, crc, m->string);
    }
}

void boot_info_print(void)
{
    if (boot_magic != MB2_BOOTLOADER_MAGIC)
        printk("mb2: magic 0x%08x is not Multiboot2's 0x%08x: no boot information\n", boot_magic,
               MB2_BOOTLOADER_MAGIC);
    for (unsigned i = 0; i < ctx.nlog; i++)
        printk("mb2: %s\n", ctx.log[i]);
    if (ctx.nproblems > ctx.nlog)
        printk("mb2: ... and %u more problems\n", ctx.nproblems - ctx.nlog);

    struct stivale2_struct_tag_memmap *m =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_MEMMAP_ID);
    if (adapt_status != 0 || !m || m->entries == 0)
        panic("boot info: no memory map (no usable memory-map or basic meminfo tag): "
              "cannot go on");
    printk("bootinfo: Multiboot2 info at 0x%x, %u bytes\n", boot_mbi_phys, ctx.info_size);
    if (ctx.efi_descriptors)
        printk("bootinfo: memory map from the EFI memory map (%u descriptors)\n",
               ctx.efi_descriptors);
    print_memmap(m);
    struct stivale2_struct_tag_modules *mt =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_MODULES_ID);
    if (mt)
        print_modules(mt);

    const char *cmd = boot_info_cmdline();
    printk("cmdline: %s\n", *cmd ? cmd : "(empty)");
    printk("bootloader: %s\n", loader[0] ? loader : "(unnamed)");
    struct stivale2_struct_tag_firmware *fw =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_FIRMWARE_ID);
    printk("firmware: %s\n", fw && (fw->flags & STIVALE2_FIRMWARE_BIOS) ? "BIOS" : "UEFI");
    struct stivale2_struct_tag_smbios *sm =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_SMBIOS_ID);
    if (sm)
        printk("smbios: %s entry point, %s\n", sm->smbios_entry_64 ? "3.x (64-bit)" : "2.x (32-bit)",
               ctx.smbios_from_efi ? "from the EFI configuration table" : "from the boot loader");
    struct stivale2_struct_tag_kernel_base_address *kb =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_KERNEL_BASE_ADDRESS_ID);
    struct stivale2_struct_tag_pmrs *pm = stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_PMRS_ID);
    if (kb)
        printk("kernel: physical base 0x%llx, virtual base 0x%llx, %llu protected ranges\n",
               (unsigned long long)kb->physical_base_address,
               (unsigned long long)kb->virtual_base_address,
               (unsigned long long)(pm ? pm->entries : 0));
}
