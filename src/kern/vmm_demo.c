/*
 * The CraftyOS demonstration of mapping: one physical frame seen through two
 * virtual addresses. Physical 0xBEEF lies in the frame at 0xB000, low memory
 * the PMM never hands out, so borrowing it for a moment is harmless; we save
 * and restore the bytes we overwrite anyway.
 */
#include <pagoda/errno.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

#include "vmm_demo.h"

#define DEMO_VIRT 0xDEADBEEFULL
#define DEMO_PHYS 0xBEEFULL

void vmm_demo_craftyos(void)
{
    static const char text[] = "Storing this string at 0xDEADBEEF...";
    char saved[sizeof(text)];
    vaddr_t page = ALIGN_DOWN(DEMO_VIRT, PAGE_SIZE);

    int rc = vmm_map(page, ALIGN_DOWN(DEMO_PHYS, PAGE_SIZE), VMM_WRITE | VMM_NX);
    if (rc) {
        printk("vmm demo: cannot map 0x%llx: %s\n", (unsigned long long)page, err_name(rc));
        return;
    }
    char *through_virt = (char *)DEMO_VIRT;
    memcpy(saved, through_virt, sizeof(text));
    memcpy(through_virt, text, sizeof(text));

    /* A second, unrelated mapping of the same frame sees the same bytes. */
    const char *through_temp = vmm_map_temp(DEMO_PHYS);
    printk("The string at 0xBEEF: %s\n", through_temp);
    vmm_unmap_temp((void *)through_temp);

    memcpy(through_virt, saved, sizeof(text));
    paddr_t pa;
    rc = vmm_unmap(page, &pa);
    if (rc || pa != ALIGN_DOWN(DEMO_PHYS, PAGE_SIZE))
        panic("vmm demo: unmap of 0x%llx gave %s, frame 0x%llx", (unsigned long long)page,
              err_name(rc), (unsigned long long)pa);
}
