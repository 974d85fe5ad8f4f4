/* Interim: the two strings kmain needs before the stivale2 adapter exists. */
#ifndef PAGODA_KERN_BOOT_INFO_H
#define PAGODA_KERN_BOOT_INFO_H

#include <pagoda/types.h>

struct boot_info {
    char loader[64];
    char cmdline[256];
};

void boot_info_read(uint32_t magic, uint32_t mbi_phys, struct boot_info *bi);

#endif
