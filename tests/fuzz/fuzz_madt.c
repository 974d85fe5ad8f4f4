/*
 * libFuzzer target for the ACPI walk (src/acpi/madt.c). The input is a fake
 * physical memory: physical address = offset into the input, and its first
 * 36 bytes are also the RSDP copy the boot-info adapter would hold. The read
 * function refuses anything outside the input, so an out-of-bounds pointer in
 * a table must come back as an error, never as a wild read (ASan checks).
 * Checked on success: the processor list is within capacity, its APIC ids are
 * distinct, the APIC address is a page address, and the same MADT parsed again
 * from memory gives the same result. On failure a reason is always given.
 */
#include <string.h>

#include <pagoda/acpi.h>
#include <pagoda/errno.h>

#include "fuzz_support.h"

struct mem {
    const uint8_t *data;
    size_t size;
};

static int mem_read(void *ctx, paddr_t pa, void *buf, size_t len)
{
    struct mem *m = ctx;
    INVARIANT(len <= ACPI_TABLE_MAX);
    if (pa >= m->size || len > m->size - pa)
        return -E_RANGE;
    memcpy(buf, m->data + pa, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[ACPI_TABLE_MAX];
    static struct acpi_madt m, again;
    char why[ACPI_WHY_LEN];
    uint8_t rsdp[36] = {0};
    memcpy(rsdp, data, size < 36 ? size : 36);
    struct mem mem = {data, size};
    /* The copy is 36 bytes unless the input says "a 1.0 RSDP" (byte 15 < 2). */
    size_t rlen = rsdp[15] >= 2 ? 36 : 20;
    int err = acpi_find_madt(rsdp, rlen, mem_read, &mem, buf, sizeof(buf), &m, why);
    INVARIANT(err == 0 || err == -E_NOENT || err == -E_INVAL || err == -E_RANGE);
    INVARIANT(memchr(why, 0, sizeof(why)) != NULL);
    if (err) {
        INVARIANT(why[0] != 0);
        return 0;
    }
    INVARIANT(m.ncpus <= ACPI_MAX_CPUS);
    INVARIANT(m.lapic_phys != 0 && (m.lapic_phys & 0xFFF) == 0);
    for (unsigned i = 0; i < m.ncpus; i++)
        for (unsigned j = i + 1; j < m.ncpus; j++)
            INVARIANT(m.cpu[i].apic_id != m.cpu[j].apic_id);
    INVARIANT(m.madt_phys < size);
    uint32_t len;
    memcpy(&len, data + m.madt_phys + 4, 4);
    again.madt_phys = m.madt_phys;
    again.via_xsdt = m.via_xsdt;
    again.rsdp_revision = m.rsdp_revision;
    INVARIANT(acpi_madt_parse(data + m.madt_phys, len, &again, why) == 0);
    INVARIANT(memcmp(&again, &m, sizeof(m)) == 0);
    return 0;
}
