/*
 * The kernel's boot information: the Multiboot2 info from GRUB, turned once
 * by the adapter (src/boot/mb2_adapter.c) into a stivale2-style struct that
 * every later module reads (pmm_init first).
 */
#ifndef PAGODA_BOOTINFO_H
#define PAGODA_BOOTINFO_H

#include <pagoda/stivale2.h>

/* Run the adapter on the info at physical mbi_phys (identity-mapped below
 * 4 GiB during early boot). Prints nothing; call once, from kmain. */
void boot_info_init(uint32_t magic, uint32_t mbi_phys);

/* Print the adapter's problems, the memory map with totals per type, the
 * modules with their CRC-32, the command line, boot loader and firmware.
 * Panics when no memory map could be built. Call after boot_info_init. */
void boot_info_print(void);

/* The stivale2 struct built by boot_info_init (never NULL after it). */
struct stivale2_struct *boot_info_get(void);

/* "GRUB 2.06-13+deb12u2", or NULL when the loader gave no name. */
const char *boot_info_loader(void);

/* The command line from the CMDLINE tag ("" without one). */
const char *boot_info_cmdline(void);

#endif
