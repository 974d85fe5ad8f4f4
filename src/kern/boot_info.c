/* Interim Multiboot2 reader for the loader name and command line. */
#include <pagoda/printk.h>
#include <pagoda/string.h>

#include "boot_info.h"

static void copy_tag_string(const uint8_t *tag, uint32_t size, char *dst, size_t cap)
{
    size_t n = strnlen((const char *)tag + 8, size - 8);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, tag + 8, n);
    dst[n] = '\0';
}

void boot_info_read(uint32_t magic, uint32_t mbi_phys, struct boot_info *bi)
{
    memset(bi, 0, sizeof(*bi));
    if (magic != 0x36D76289 || mbi_phys == 0 || (mbi_phys & 7))
        return;
    const uint8_t *mbi = (const uint8_t *)(uintptr_t)mbi_phys;
    uint32_t total = *(const uint32_t *)mbi;
    for (uint32_t off = 8; off + 8 <= total;) {
        uint32_t type = *(const uint32_t *)(mbi + off);
        uint32_t size = *(const uint32_t *)(mbi + off + 4);
        if (type == 0 || size < 8 || off + size > total)
            break;
        if (type == 1)
            copy_tag_string(mbi + off, size, bi->cmdline, sizeof(bi->cmdline));
        else if (type == 2)
            copy_tag_string(mbi + off, size, bi->loader, sizeof(bi->loader));
        off = (off + size + 7) & ~7u;
    }
}
