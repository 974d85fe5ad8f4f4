/* Host tests of the RSDP -> RSDT/XSDT -> MADT walk (src/acpi/madt.c), over
 * hand-built tables in a fake physical memory (tests/host/acpi_blob.h). */
#include <pagoda/acpi.h>
#include <pagoda/errno.h>
#include <string.h>

#include "acpi_blob.h"
#include "harness.h"

static int reads;

static int blob_read(void *ctx, paddr_t pa, void *buf, size_t len)
{
    struct acpi_blob *b = ctx;
    reads++;
    if (len > ACPI_TABLE_MAX)
        return -E_INVAL; /* the contract: the parser never asks for more */
    if (pa >= BLOB_SIZE || len > BLOB_SIZE - pa)
        return -E_RANGE;
    memcpy(buf, b->mem + pa, len);
    return 0;
}

static struct acpi_blob blob;
static uint8_t buf[ACPI_TABLE_MAX];
static struct acpi_madt m;
static char why[ACPI_WHY_LEN];

static int find(void)
{
    return acpi_find_madt(blob.mem, 36, blob_read, &blob, buf, sizeof(buf), &m, why);
}

HTEST(acpi_rsdt_four_cpus)
{
    blob_typical(&blob, 0, 4);
    CHECK_EQ(find(), 0);
    CHECK(!m.via_xsdt);
    CHECK_EQ(m.madt_phys, BLOB_MADT);
    CHECK_EQ(m.lapic_phys, 0xFEE00000u);
    CHECK_EQ(m.ncpus, 4);
    CHECK_EQ(m.cpus_disabled, 1);
    CHECK_EQ(m.nioapic, 1);
    CHECK_EQ(m.entries, 8);
    for (unsigned i = 0; i < 4; i++) {
        CHECK_EQ(m.cpu[i].apic_id, i);
        CHECK(m.cpu[i].enabled);
    }
}

HTEST(acpi_xsdt_when_revision_2)
{
    blob_typical(&blob, 2, 2);
    CHECK_EQ(find(), 0);
    CHECK(m.via_xsdt);
    CHECK_EQ(m.rsdp_revision, 2);
    CHECK_EQ(m.ncpus, 2);
}

HTEST(acpi_revision_2_without_xsdt_uses_rsdt)
{
    blob_typical(&blob, 0, 3);
    /* Revision 2, length 36, XSDT address 0: the RSDT is still there. */
    blob.mem[15] = 2;
    blob_w32(blob.mem + 20, 36);
    blob_fix_sum(blob.mem, 20, 8);
    blob_fix_sum(blob.mem, 36, 32);
    CHECK_EQ(find(), 0);
    CHECK(!m.via_xsdt);
    CHECK_EQ(m.ncpus, 3);
}

HTEST(acpi_online_capable_kept_and_override)
{
    memset(blob.mem, 0, sizeof(blob.mem));
    blob_madt_begin(&blob, 0xFEE00000u);
    blob_lapic(&blob, 0, 0, 1);
    blob_lapic(&blob, 1, 7, 2); /* online-capable only */
    uint8_t *o = blob_madt_entry(&blob, 5, 12);
    blob_w64(o + 4, 0x1FEE00000ULL);
    blob_madt_end(&blob);
    blob_root(&blob, 0);
    CHECK_EQ(find(), 0);
    CHECK_EQ(m.ncpus, 2);
    CHECK_EQ(m.cpu[1].apic_id, 7);
    CHECK(!m.cpu[1].enabled);
    CHECK_EQ(m.lapic_phys, 0x1FEE00000ULL);
}

HTEST(acpi_x2apic_entries_and_duplicates)
{
    memset(blob.mem, 0, sizeof(blob.mem));
    blob_madt_begin(&blob, 0xFEE00000u);
    blob_lapic(&blob, 0, 0, 1);
    blob_x2apic(&blob, 0, 0, 1);     /* the same CPU again */
    blob_x2apic(&blob, 300, 5, 1);   /* only an x2APIC can address it */
    blob_madt_end(&blob);
    blob_root(&blob, 2);
    CHECK_EQ(find(), 0);
    CHECK_EQ(m.ncpus, 2);
    CHECK_EQ(m.cpus_dropped, 1);
    CHECK_EQ(m.cpu[1].apic_id, 300);
    CHECK(m.cpu[1].x2apic);
    CHECK_EQ(m.cpu[1].uid, 5);
}

HTEST(acpi_capacity_drops_extra_cpus)
{
    memset(blob.mem, 0, sizeof(blob.mem));
    blob_madt_begin(&blob, 0xFEE00000u);
    for (unsigned i = 0; i < ACPI_MAX_CPUS + 3; i++)
        blob_x2apic(&blob, i, i, 1);
    blob_madt_end(&blob);
    blob_root(&blob, 0);
    CHECK_EQ(find(), 0);
    CHECK_EQ(m.ncpus, ACPI_MAX_CPUS);
    CHECK_EQ(m.cpus_dropped, 3);
}

HTEST(acpi_no_madt)
{
    blob_typical(&blob, 0, 2);
    memcpy(blob.mem + BLOB_MADT, "HPET", 4); /* the entry now names another table */
    CHECK_EQ(find(), -E_NOENT);
    CHECK(strstr(why, "no MADT") != NULL);
}

HTEST(acpi_bad_rsdp)
{
    blob_typical(&blob, 0, 2);
    blob.mem[0] = 'X';
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "signature") != NULL);

    blob_typical(&blob, 0, 2);
    blob.mem[8] ^= 1; /* checksum */
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "RSDP checksum") != NULL);

    blob_typical(&blob, 2, 2);
    blob.mem[32] ^= 1; /* extended checksum */
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "extended checksum") != NULL);

    blob_typical(&blob, 2, 2);
    blob_w32(blob.mem + 20, 4000); /* longer than the copy we hold */
    blob_fix_sum(blob.mem, 20, 8);
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "length 4000") != NULL);

    /* Only a 20-byte copy of a revision-2 RSDP. */
    blob_typical(&blob, 2, 2);
    CHECK_EQ(acpi_find_madt(blob.mem, 20, blob_read, &blob, buf, sizeof(buf), &m, why), -E_INVAL);
}

HTEST(acpi_bad_root_table)
{
    blob_typical(&blob, 0, 2);
    blob.mem[BLOB_ROOT + 20] ^= 0x55; /* checksum */
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "RSDT checksum") != NULL);

    blob_typical(&blob, 0, 2);
    blob_w32(blob.mem + BLOB_ROOT + 4, 0x7fffffff); /* absurd length */
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "length") != NULL);

    blob_typical(&blob, 0, 2);
    blob_w32(blob.mem + BLOB_ROOT + 4, 43); /* not a whole entry */
    CHECK_EQ(find(), -E_INVAL);

    blob_typical(&blob, 0, 2);
    blob_w32(blob.mem + 16, BLOB_SIZE + 0x1000); /* outside memory */
    blob_fix_sum(blob.mem, 20, 8);
    CHECK_EQ(find(), -E_RANGE);

    blob_typical(&blob, 2, 2);
    memcpy(blob.mem + BLOB_ROOT, "RSDT", 4); /* the XSDT must say XSDT */
    CHECK_EQ(find(), -E_INVAL);
}

HTEST(acpi_unreadable_entry_is_skipped)
{
    blob_typical(&blob, 0, 2);
    blob_w32(blob.mem + BLOB_ROOT + 36, 0xFFFFFFF0u); /* the decoy's pointer */
    blob_fix_sum(blob.mem + BLOB_ROOT, 44, 9);
    CHECK_EQ(find(), 0);
    CHECK_EQ(m.ncpus, 2);
}

HTEST(acpi_bad_madt)
{
    blob_typical(&blob, 0, 2);
    blob.mem[BLOB_MADT + 50] ^= 1;
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "MADT checksum") != NULL);

    /* A MADT length past the end of readable memory. */
    blob_typical(&blob, 0, 2);
    blob_w32(blob.mem + BLOB_MADT + 4, BLOB_SIZE);
    CHECK_EQ(find(), -E_RANGE);

    /* Longer than the caller's buffer. */
    blob_typical(&blob, 0, 2);
    CHECK_EQ(acpi_find_madt(blob.mem, 36, blob_read, &blob, buf, 50, &m, why), -E_INVAL);

    /* Shorter than its fixed part. */
    blob_typical(&blob, 0, 2);
    blob_w32(blob.mem + BLOB_MADT + 4, 40);
    CHECK_EQ(find(), -E_INVAL);
}

HTEST(acpi_bad_madt_entries)
{
    static const struct {
        uint8_t type, len;
    } bad[] = {{0, 0}, {0, 1}, {0, 7}, {9, 15}, {1, 11}, {5, 11}, {0, 200}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(blob.mem, 0, sizeof(blob.mem));
        blob_madt_begin(&blob, 0xFEE00000u);
        blob_lapic(&blob, 0, 0, 1);
        uint8_t *e = blob_madt_entry(&blob, bad[i].type, 16);
        e[1] = bad[i].len;
        blob_madt_end(&blob);
        blob_root(&blob, 0);
        CHECK_EQ(find(), -E_INVAL);
        CHECK(strstr(why, "entry 1") != NULL);
    }
    /* A lone byte left after the last entry. */
    memset(blob.mem, 0, sizeof(blob.mem));
    blob_madt_begin(&blob, 0xFEE00000u);
    blob_lapic(&blob, 0, 0, 1);
    blob.madt_len++;
    blob_madt_end(&blob);
    blob_root(&blob, 0);
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "1 byte left") != NULL);
}

HTEST(acpi_bad_lapic_address)
{
    memset(blob.mem, 0, sizeof(blob.mem));
    blob_madt_begin(&blob, 0xFEE00010u);
    blob_lapic(&blob, 0, 0, 1);
    blob_madt_end(&blob);
    blob_root(&blob, 0);
    CHECK_EQ(find(), -E_INVAL);
    CHECK(strstr(why, "local APIC address") != NULL);
}

HTEST(acpi_parse_in_memory)
{
    blob_typical(&blob, 0, 8);
    struct acpi_madt mm = {0};
    CHECK_EQ(acpi_madt_parse(blob.mem + BLOB_MADT, blob.madt_len, &mm, why), 0);
    CHECK_EQ(mm.ncpus, 8);
    /* A length that disagrees with the header. */
    CHECK_EQ(acpi_madt_parse(blob.mem + BLOB_MADT, blob.madt_len - 1, &mm, why), -E_INVAL);
    CHECK(strstr(why, "length field") != NULL);
    CHECK_EQ(acpi_madt_parse(blob.mem + BLOB_MADT, 10, &mm, why), -E_INVAL);
}
