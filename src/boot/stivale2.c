/* Reading the stivale2-style struct: tag lookup and memory-map type names. */
#include <pagoda/stivale2.h>

/* A chain longer than this is corrupt (the adapter builds about a dozen). */
#define STIVALE2_MAX_TAGS 64

void *stivale2_get_tag(const struct stivale2_struct *info, uint64_t id)
{
    if (!info)
        return NULL;
    uint64_t next = info->tags;
    for (int i = 0; next && i < STIVALE2_MAX_TAGS; i++) {
        struct stivale2_tag *tag = (struct stivale2_tag *)(uintptr_t)next;
        if (tag->identifier == id)
            return tag;
        next = tag->next;
    }
    return NULL;
}

const char *stivale2_mmap_type_name(uint32_t type)
{
    switch (type) {
    case STIVALE2_MMAP_USABLE:
        return "usable";
    case STIVALE2_MMAP_RESERVED:
        return "reserved";
    case STIVALE2_MMAP_ACPI_RECLAIMABLE:
        return "acpi-reclaimable";
    case STIVALE2_MMAP_ACPI_NVS:
        return "acpi-nvs";
    case STIVALE2_MMAP_BAD_MEMORY:
        return "bad";
    case STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE:
        return "bootloader-reclaimable";
    case STIVALE2_MMAP_KERNEL_AND_MODULES:
        return "kernel-and-modules";
    case STIVALE2_MMAP_FRAMEBUFFER:
        return "framebuffer";
    default:
        return "unknown";
    }
}
