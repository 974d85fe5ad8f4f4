/*
 * Hand-built ACPI tables in a fake physical memory, for tests/host/test_acpi.c
 * and the seeds of the fuzz_madt target. Physical address = offset into
 * mem[]. Layout: RSDP copy at 0 (36 bytes), root table at 0x100, a FACP-like
 * decoy at 0x400, the MADT at 0x800.
 */
#ifndef PAGODA_ACPI_BLOB_H
#define PAGODA_ACPI_BLOB_H

#include <stdint.h>
#include <string.h>

#define BLOB_SIZE  0x2000
#define BLOB_ROOT  0x100
#define BLOB_DECOY 0x400
#define BLOB_MADT  0x800

struct acpi_blob {
    uint8_t mem[BLOB_SIZE];
    size_t madt_len;
};

static inline void blob_w32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void blob_w64(uint8_t *p, uint64_t v)
{
    blob_w32(p, (uint32_t)v);
    blob_w32(p + 4, (uint32_t)(v >> 32));
}

/* Fix the checksum byte at `at` so that bytes [0, len) of t sum to 0. */
static inline void blob_fix_sum(uint8_t *t, size_t len, size_t at)
{
    uint8_t s = 0;
    t[at] = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + t[i]);
    t[at] = (uint8_t)(0x100 - s);
}

static inline void blob_header(uint8_t *t, const char *sig, uint32_t len)
{
    memcpy(t, sig, 4);
    blob_w32(t + 4, len);
    t[8] = 1;
    memcpy(t + 10, "PAGODA", 6);
}

/* Start a MADT with the local APIC at lapic; entries follow. */
static inline void blob_madt_begin(struct acpi_blob *b, uint32_t lapic)
{
    uint8_t *t = b->mem + BLOB_MADT;
    blob_header(t, "APIC", 44);
    blob_w32(t + 36, lapic);
    blob_w32(t + 40, 1);
    b->madt_len = 44;
}

static inline uint8_t *blob_madt_entry(struct acpi_blob *b, uint8_t type, uint8_t len)
{
    uint8_t *e = b->mem + BLOB_MADT + b->madt_len;
    memset(e, 0, len);
    e[0] = type;
    e[1] = len;
    b->madt_len += len;
    return e;
}

static inline void blob_lapic(struct acpi_blob *b, uint8_t uid, uint8_t apic_id, uint32_t flags)
{
    uint8_t *e = blob_madt_entry(b, 0, 8);
    e[2] = uid;
    e[3] = apic_id;
    blob_w32(e + 4, flags);
}

static inline void blob_x2apic(struct acpi_blob *b, uint32_t apic_id, uint32_t uid, uint32_t flags)
{
    uint8_t *e = blob_madt_entry(b, 9, 16);
    blob_w32(e + 4, apic_id);
    blob_w32(e + 8, flags);
    blob_w32(e + 12, uid);
}

static inline void blob_madt_end(struct acpi_blob *b)
{
    uint8_t *t = b->mem + BLOB_MADT;
    blob_w32(t + 4, (uint32_t)b->madt_len);
    blob_fix_sum(t, b->madt_len, 9);
}

/* The RSDP copy (revision 0: RSDT; 2: XSDT) and a root table listing a
 * decoy table then the MADT. */
static inline void blob_root(struct acpi_blob *b, int revision)
{
    uint8_t *r = b->mem, *t = b->mem + BLOB_ROOT, *d = b->mem + BLOB_DECOY;
    memset(r, 0, 36);
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, "PAGODA", 6);
    r[15] = (uint8_t)revision;
    blob_header(d, "FACP", 36);
    blob_fix_sum(d, 36, 9);
    if (revision >= 2) {
        blob_w32(r + 20, 36);
        blob_w64(r + 24, BLOB_ROOT);
        blob_header(t, "XSDT", 36 + 16);
        blob_w64(t + 36, BLOB_DECOY);
        blob_w64(t + 44, BLOB_MADT);
        blob_fix_sum(t, 52, 9);
    } else {
        blob_w32(r + 16, BLOB_ROOT);
        blob_header(t, "RSDT", 36 + 8);
        blob_w32(t + 36, BLOB_DECOY);
        blob_w32(t + 40, BLOB_MADT);
        blob_fix_sum(t, 44, 9);
    }
    blob_fix_sum(r, 20, 8);
    if (revision >= 2)
        blob_fix_sum(r, 36, 32);
}

/* A typical firmware's tables: n enabled CPUs with APIC ids 0..n-1, one
 * disabled slot, an I/O APIC, an override, a LAPIC NMI entry. */
static inline void blob_typical(struct acpi_blob *b, int revision, unsigned n)
{
    memset(b->mem, 0, sizeof(b->mem));
    blob_madt_begin(b, 0xFEE00000u);
    for (unsigned i = 0; i < n; i++)
        blob_lapic(b, (uint8_t)i, (uint8_t)i, 1);
    blob_lapic(b, (uint8_t)n, (uint8_t)n, 0); /* a hot-plug slot, disabled */
    uint8_t *io = blob_madt_entry(b, 1, 12);
    io[2] = (uint8_t)n;
    blob_w32(io + 4, 0xFEC00000u);
    uint8_t *iso = blob_madt_entry(b, 2, 10);
    iso[3] = 0;
    blob_w32(iso + 4, 2);
    uint8_t *nmi = blob_madt_entry(b, 4, 6);
    nmi[2] = 0xFF;
    nmi[5] = 1;
    blob_madt_end(b);
    blob_root(b, revision);
}

#endif
