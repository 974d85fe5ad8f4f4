/*
 * In-kernel tests of the boot-info adapter on the live boot: the map GRUB
 * gave this boot, normalised, must keep the stivale2 promises, and the
 * kernel image and every module must lie inside KERNEL_AND_MODULES.
 */
#include <pagoda/bootinfo.h>
#include <pagoda/kernel.h>
#include <pagoda/ktest.h>
#include <pagoda/mb2.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

extern const char __kernel_phys_start[], __kernel_phys_end[];

static struct stivale2_struct_tag_memmap *live_map(void)
{
    return stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_MEMMAP_ID);
}

/* True when entries of `type` cover [base, end) without a gap. */
static bool covered(const struct stivale2_struct_tag_memmap *m, uint64_t base, uint64_t end,
                    uint32_t type)
{
    for (uint64_t i = 0; i < m->entries && base < end; i++) {
        const struct stivale2_mmap_entry *e = &m->memmap[i];
        if (e->type != type || e->base > base || base - e->base >= e->length)
            continue;
        base = e->base + e->length;
    }
    return base >= end;
}

KTEST(mb2_live_map_invariants)
{
    struct stivale2_struct_tag_memmap *m = live_map();
    KT_ASSERT(m != NULL);
    KT_ASSERT(m->entries > 0 && m->entries <= MB2_MAX_MEMMAP);
    KT_ASSERT(mb2_memmap_verify(m) == NULL);
    uint64_t usable = 0;
    for (uint64_t i = 0; i < m->entries; i++)
        if (m->memmap[i].type == STIVALE2_MMAP_USABLE)
            usable += m->memmap[i].length;
    KT_ASSERT(usable >= MiB(16)); /* every configuration we boot has more */
}

KTEST(mb2_kernel_inside_kernel_and_modules)
{
    struct stivale2_struct_tag_memmap *m = live_map();
    KT_ASSERT(m != NULL);
    KT_ASSERT(covered(m, (uintptr_t)__kernel_phys_start, (uintptr_t)__kernel_phys_end,
                      STIVALE2_MMAP_KERNEL_AND_MODULES));
    struct stivale2_struct_tag_kernel_base_address *kb =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_KERNEL_BASE_ADDRESS_ID);
    KT_ASSERT(kb != NULL);
    KT_ASSERT_EQ(kb->physical_base_address, (uintptr_t)__kernel_phys_start);
}

KTEST(mb2_modules_inside_kernel_and_modules)
{
    struct stivale2_struct_tag_memmap *m = live_map();
    struct stivale2_struct_tag_modules *mt =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_MODULES_ID);
    KT_ASSERT(m != NULL && mt != NULL);
    for (uint64_t i = 0; i < mt->module_count; i++) {
        KT_ASSERT(mt->modules[i].begin <= mt->modules[i].end);
        KT_ASSERT(
            covered(m, mt->modules[i].begin, mt->modules[i].end, STIVALE2_MMAP_KERNEL_AND_MODULES));
    }
}

static int a_data_word = 1;
static void a_code_word(void) {}

/* The PMRs describe this kernel: code executable, data writable, not both. */
KTEST(mb2_pmrs_describe_kernel)
{
    struct stivale2_struct_tag_pmrs *p =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_PMRS_ID);
    KT_ASSERT(p != NULL && p->entries > 0);
    uint64_t code = (uintptr_t)&a_code_word, data = (uintptr_t)&a_data_word;
    uint64_t code_perm = 0, data_perm = 0;
    for (uint64_t i = 0; i < p->entries; i++) {
        if (code - p->pmrs[i].base < p->pmrs[i].length)
            code_perm = p->pmrs[i].permissions;
        if (data - p->pmrs[i].base < p->pmrs[i].length)
            data_perm = p->pmrs[i].permissions;
    }
    KT_ASSERT(code_perm & STIVALE2_PMR_EXECUTABLE);
    KT_ASSERT(!(code_perm & STIVALE2_PMR_WRITABLE));
    KT_ASSERT(data_perm & STIVALE2_PMR_WRITABLE);
    KT_ASSERT(!(data_perm & STIVALE2_PMR_EXECUTABLE));
}

/* On UEFI: the system table pointer leads to a table signed "IBI SYST", the
 * RSDP is ACPI 2.0's (revision 2, as OVMF and every UEFI PC give), and there
 * is an SMBIOS entry point. */
static void check_uefi_tables(void)
{
    struct stivale2_struct_tag_efi_system_table *st =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_EFI_SYSTEM_TABLE_ID);
    if (!st)
        return; /* a BIOS boot */
    KT_ASSERT(st->system_table != 0 && IS_ALIGNED(st->system_table, 8));
    uint8_t *page = vmm_map_temp(ALIGN_DOWN(st->system_table, PAGE_SIZE));
    uint64_t sig;
    memcpy(&sig, page + (st->system_table & PAGE_MASK), sizeof(sig));
    vmm_unmap_temp(page);
    KT_ASSERT_EQ(sig, 0x5453595320494249ULL); /* "IBI SYST" */
    struct stivale2_struct_tag_rsdp *r = stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_RSDP_ID);
    KT_ASSERT(r != NULL);
    const uint8_t *rsdp = (const uint8_t *)(uintptr_t)r->rsdp;
    KT_ASSERT(memcmp(rsdp, "RSD PTR ", 8) == 0);
    KT_ASSERT(rsdp[15] >= 2);
    /* SMBIOS: from GRUB, or else through the EFI configuration table. */
    struct stivale2_struct_tag_smbios *s =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_SMBIOS_ID);
    KT_ASSERT(s != NULL);
    const char *ep = (const char *)(uintptr_t)(s->smbios_entry_64 ? s->smbios_entry_64
                                                                    : s->smbios_entry_32);
    KT_ASSERT(memcmp(ep, s->smbios_entry_64 ? "_SM3_" : "_SM_", s->smbios_entry_64 ? 5 : 4) == 0);
}

KTEST(mb2_cmdline_and_firmware)
{
    struct stivale2_struct_tag_cmdline *c =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_CMDLINE_ID);
    KT_ASSERT(c != NULL);
    /* The tag is the command line the kernel acted on. Booted with `test`,
     * it says so; run from the monitor, it may be empty. */
    const char *s = (const char *)(uintptr_t)c->cmdline;
    KT_ASSERT(strcmp(s, boot_info_cmdline()) == 0);
    char v[32];
    if (kernel_exit_on_panic)
        KT_ASSERT(cmdline_get("test", v, sizeof(v)) != NULL);
    struct stivale2_struct_tag_firmware *fw =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_FIRMWARE_ID);
    struct stivale2_struct_tag_efi_system_table *st =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_EFI_SYSTEM_TABLE_ID);
    KT_ASSERT(fw != NULL);
    /* BIOS exactly when GRUB passed no EFI system table. */
    KT_ASSERT(!(fw->flags & STIVALE2_FIRMWARE_BIOS) == (st != NULL));
    check_uefi_tables();
}

