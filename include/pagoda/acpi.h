/*
 * ACPI, as far as SMP bring-up needs it: from the RSDP to the MADT, and the
 * MADT's list of processors (src/acpi/madt.c, portable).
 *
 * The parser never dereferences a physical address. It asks the caller to
 * copy physical memory (acpi_read_fn): the kernel does it through the VMM's
 * temp window, the host tests and the fuzzer from a byte array. Every length
 * read from firmware is bounds-checked before it is used, every table the
 * walk relies on (RSDP, RSDT/XSDT, MADT) has its checksum verified, and a
 * malformed table gives an error code and a one-line reason, never a wild
 * read.
 */
#ifndef PAGODA_ACPI_H
#define PAGODA_ACPI_H

#include <pagoda/types.h>

#define ACPI_MAX_CPUS   64          /* processors kept from the MADT */
#define ACPI_TABLE_MAX  (64 * 1024) /* a longer RSDT/XSDT/MADT is refused */
#define ACPI_HDR_LEN    36          /* the common System Description Table header */
#define ACPI_WHY_LEN    112

/* Copy len bytes of physical memory at pa into buf: 0, or a negative code
 * (the range is not readable). Called with len <= ACPI_TABLE_MAX. */
typedef int (*acpi_read_fn)(void *ctx, paddr_t pa, void *buf, size_t len);

struct acpi_cpu {
    uint32_t apic_id; /* local APIC id (x2APIC id for type-9 entries) */
    uint32_t uid;     /* ACPI processor id / uid */
    bool enabled;     /* flags bit 0; otherwise only online-capable */
    bool x2apic;      /* from a type-9 (local x2APIC) entry */
};

struct acpi_madt {
    paddr_t madt_phys;     /* where the table was found */
    bool via_xsdt;         /* found through the XSDT (else the RSDT) */
    uint8_t rsdp_revision;
    paddr_t lapic_phys;    /* the 32-bit field, or a type-5 override */
    uint32_t flags;        /* bit 0: PC-AT compatible dual 8259 setup */
    unsigned ncpus;        /* usable processors kept in cpu[] */
    unsigned cpus_disabled; /* entries neither enabled nor online-capable */
    unsigned cpus_dropped;  /* usable but beyond ACPI_MAX_CPUS, or duplicates */
    unsigned nioapic;
    unsigned entries;      /* interrupt-controller entries walked */
    struct acpi_cpu cpu[ACPI_MAX_CPUS];
};

/*
 * Parse a whole MADT held in memory (len bytes, header included): header
 * signature "APIC", length field == len, checksum, and every entry's length
 * against its type and the table's end. Returns 0, or -E_INVAL with a reason
 * in why (ACPI_WHY_LEN bytes). Fills *out either way (partially on error).
 */
int acpi_madt_parse(const void *table, size_t len, struct acpi_madt *out, char *why);

/*
 * Find and parse the MADT: check the RSDP copy (rsdp_len bytes we own: 20
 * for ACPI 1.0, 36 for 2.0+), walk the XSDT (revision >= 2 with a non-zero
 * address) or the RSDT through read(), and parse the "APIC" table into
 * *out. buf (bufsize bytes, at most ACPI_TABLE_MAX used) receives the MADT.
 * Returns 0; -E_NOENT when there is no MADT; -E_INVAL for a malformed RSDP,
 * root table or MADT; -E_RANGE when firmware points at unreadable memory.
 * A reason is always left in why.
 */
int acpi_find_madt(const void *rsdp, size_t rsdp_len, acpi_read_fn read, void *ctx, void *buf,
                   size_t bufsize, struct acpi_madt *out, char *why);

#endif
