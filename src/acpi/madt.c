/*
 * From the RSDP to the list of processors in the MADT.
 *
 * Theory of operation
 * -------------------
 * The boot-info adapter keeps a copy of the RSDP (20 bytes for ACPI 1.0, 36
 * for 2.0+). Its checksum (first 20 bytes) and, from revision 2, its
 * extended checksum over `length` bytes are verified. Revision >= 2 with a
 * non-zero XSDT address walks the XSDT (64-bit entries), otherwise the RSDT
 * (32-bit entries).
 *
 * Nothing here dereferences a physical address: every byte comes through the
 * caller's read function, in bounded pieces. The root table is checksummed
 * in 256-byte chunks, then each entry's 36-byte header is read; a header that
 * cannot be read is skipped (it cannot be the MADT we look for), one whose
 * signature is "APIC" is read whole into the caller's buffer and parsed. Only
 * the tables we rely on are checksummed: a broken unrelated table is not our
 * concern.
 *
 * The MADT: after the header, u32 local APIC address, u32 flags, then
 * entries (u8 type, u8 length). Each entry must have room for its own two
 * bytes, end inside the table, and be long enough for its type; anything else
 * is -E_INVAL with the entry's index, offset, type and length in the reason.
 * Processors (type 0, local APIC; type 9, local x2APIC) are kept when enabled
 * or online-capable; duplicates of an APIC id (a type-0 and a type-9 entry
 * for one CPU) are kept once. A type-5 entry overrides the APIC address.
 *
 * Cost: O(root entries + MADT length) reads. Weaknesses: only the MADT is
 * looked for; I/O APICs are counted, not described; the uid of a type-0 entry
 * is its 8-bit ACPI processor id.
 */
#include <pagoda/acpi.h>
#include <pagoda/errno.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#define MADT_FIXED 44 /* header + local APIC address + flags */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* The minimum length of each MADT entry type we read or step over. */
static unsigned min_entry_len(uint8_t type)
{
    switch (type) {
    case 0: return 8;  /* processor local APIC */
    case 1: return 12; /* I/O APIC */
    case 2: return 10; /* interrupt source override */
    case 3: return 8;  /* NMI source */
    case 4: return 6;  /* local APIC NMI */
    case 5: return 12; /* local APIC address override */
    case 9: return 16; /* processor local x2APIC */
    case 10: return 12; /* local x2APIC NMI */
    default: return 2; /* unknown: its own header is all we need */
    }
}

static void add_cpu(struct acpi_madt *m, uint32_t apic_id, uint32_t uid, uint32_t flags, bool x2)
{
    bool enabled = flags & 1, capable = flags & 2;
    if (!enabled && !capable) {
        m->cpus_disabled++;
        return;
    }
    for (unsigned i = 0; i < m->ncpus; i++)
        if (m->cpu[i].apic_id == apic_id) {
            m->cpus_dropped++; /* the same CPU listed twice (type 0 and 9) */
            return;
        }
    if (m->ncpus == ACPI_MAX_CPUS) {
        m->cpus_dropped++;
        return;
    }
    m->cpu[m->ncpus++] = (struct acpi_cpu){apic_id, uid, enabled, x2};
}

int acpi_madt_parse(const void *table, size_t len, struct acpi_madt *out, char *why)
{
    const uint8_t *t = table;
    paddr_t at = out->madt_phys;
    bool via = out->via_xsdt;
    uint8_t rev = out->rsdp_revision;
    memset(out, 0, sizeof(*out));
    out->madt_phys = at;
    out->via_xsdt = via;
    out->rsdp_revision = rev;
    why[0] = 0;

    if (len < MADT_FIXED) {
        ksnprintf(why, ACPI_WHY_LEN, "MADT is %zu bytes, shorter than its %u-byte fixed part",
                  len, MADT_FIXED);
        return -E_INVAL;
    }
    if (memcmp(t, "APIC", 4) != 0) {
        ksnprintf(why, ACPI_WHY_LEN, "MADT signature is not \"APIC\"");
        return -E_INVAL;
    }
    if (rd32(t + 4) != len) {
        ksnprintf(why, ACPI_WHY_LEN, "MADT length field %u differs from the %zu bytes read",
                  rd32(t + 4), len);
        return -E_INVAL;
    }
    if (sum8(t, len) != 0) {
        ksnprintf(why, ACPI_WHY_LEN, "MADT checksum is wrong (bytes sum to 0x%02x, not 0)",
                  sum8(t, len));
        return -E_INVAL;
    }
    out->lapic_phys = rd32(t + 36);
    out->flags = rd32(t + 40);

    size_t off = MADT_FIXED;
    for (unsigned idx = 0; off < len; idx++) {
        if (len - off < 2) {
            ksnprintf(why, ACPI_WHY_LEN, "MADT entry %u at offset %zu: 1 byte left for its header",
                      idx, off);
            return -E_INVAL;
        }
        uint8_t type = t[off], elen = t[off + 1];
        unsigned need = min_entry_len(type);
        if (elen < need || elen > len - off) {
            ksnprintf(why, ACPI_WHY_LEN,
                      "MADT entry %u at offset %zu (type %u) has length %u: needs %u..%zu", idx,
                      off, type, elen, need, len - off);
            return -E_INVAL;
        }
        const uint8_t *e = t + off;
        switch (type) {
        case 0:
            add_cpu(out, e[3], e[2], rd32(e + 4), false);
            break;
        case 1:
            out->nioapic++;
            break;
        case 5:
            out->lapic_phys = rd64(e + 4);
            break;
        case 9:
            add_cpu(out, rd32(e + 4), rd32(e + 12), rd32(e + 8), true);
            break;
        default:
            break;
        }
        out->entries++;
        off += elen;
    }
    if (out->lapic_phys == 0 || (out->lapic_phys & PAGE_MASK)) {
        ksnprintf(why, ACPI_WHY_LEN, "MADT local APIC address 0x%llx is not a page address",
                  (unsigned long long)out->lapic_phys);
        return -E_INVAL;
    }
    return 0;
}

/* Checksum len bytes at pa through read(), a chunk at a time. */
static int sum_phys(acpi_read_fn read, void *ctx, paddr_t pa, size_t len, uint8_t *sum)
{
    uint8_t chunk[256], s = 0;
    for (size_t done = 0; done < len;) {
        size_t n = MIN(sizeof(chunk), len - done);
        int err = read(ctx, pa + done, chunk, n);
        if (err)
            return err;
        s = (uint8_t)(s + sum8(chunk, n));
        done += n;
    }
    *sum = s;
    return 0;
}

static bool range_ok(paddr_t pa, size_t len)
{
    return pa != 0 && pa + len > pa;
}

/* Check the RSDP copy; the root table's address and entry size out. */
static int check_rsdp(const uint8_t *r, size_t rlen, paddr_t *root, unsigned *esize,
                      uint8_t *rev, char *why)
{
    if (rlen < 20 || memcmp(r, "RSD PTR ", 8) != 0) {
        ksnprintf(why, ACPI_WHY_LEN, "RSDP has no \"RSD PTR \" signature");
        return -E_INVAL;
    }
    if (sum8(r, 20) != 0) {
        ksnprintf(why, ACPI_WHY_LEN, "RSDP checksum is wrong");
        return -E_INVAL;
    }
    *rev = r[15];
    if (r[15] >= 2) {
        uint32_t xlen = rlen >= 24 ? rd32(r + 20) : 0;
        if (xlen < 36 || xlen > rlen) {
            ksnprintf(why, ACPI_WHY_LEN,
                      "RSDP revision %u has length %u: needs 36..%zu (the copy we hold)", r[15],
                      xlen, rlen);
            return -E_INVAL;
        }
        if (sum8(r, xlen) != 0) {
            ksnprintf(why, ACPI_WHY_LEN, "RSDP extended checksum is wrong");
            return -E_INVAL;
        }
        uint64_t x = rd64(r + 24);
        if (x) {
            *root = x;
            *esize = 8;
            return 0;
        }
    }
    *root = rd32(r + 16);
    *esize = 4;
    if (*root == 0) {
        ksnprintf(why, ACPI_WHY_LEN, "RSDP gives no RSDT or XSDT address");
        return -E_INVAL;
    }
    return 0;
}

int acpi_find_madt(const void *rsdp, size_t rsdp_len, acpi_read_fn read, void *ctx, void *buf,
                   size_t bufsize, struct acpi_madt *out, char *why)
{
    paddr_t root;
    unsigned esize;
    uint8_t rev = 0;
    memset(out, 0, sizeof(*out));
    why[0] = 0;
    int err = check_rsdp(rsdp, rsdp_len, &root, &esize, &rev, why);
    if (err)
        return err;
    const char *rname = esize == 8 ? "XSDT" : "RSDT";

    uint8_t hdr[ACPI_HDR_LEN];
    if (!range_ok(root, sizeof(hdr)) || read(ctx, root, hdr, sizeof(hdr)) != 0) {
        ksnprintf(why, ACPI_WHY_LEN, "%s at 0x%llx cannot be read", rname,
                  (unsigned long long)root);
        return -E_RANGE;
    }
    uint32_t rlen = rd32(hdr + 4);
    if (memcmp(hdr, rname, 4) != 0) {
        ksnprintf(why, ACPI_WHY_LEN, "%s at 0x%llx has the wrong signature", rname,
                  (unsigned long long)root);
        return -E_INVAL;
    }
    if (rlen < ACPI_HDR_LEN || rlen > ACPI_TABLE_MAX || (rlen - ACPI_HDR_LEN) % esize) {
        ksnprintf(why, ACPI_WHY_LEN,
                  "%s length %u is not %u plus a whole number of %u-byte entries (max %u)",
                  rname, rlen, ACPI_HDR_LEN, esize, ACPI_TABLE_MAX);
        return -E_INVAL;
    }
    uint8_t sum;
    if (!range_ok(root, rlen) || sum_phys(read, ctx, root, rlen, &sum) != 0) {
        ksnprintf(why, ACPI_WHY_LEN, "%s at 0x%llx (%u bytes) cannot be read", rname,
                  (unsigned long long)root, rlen);
        return -E_RANGE;
    }
    if (sum != 0) {
        ksnprintf(why, ACPI_WHY_LEN, "%s checksum is wrong", rname);
        return -E_INVAL;
    }

    unsigned n = (rlen - ACPI_HDR_LEN) / esize;
    for (unsigned i = 0; i < n; i++) {
        uint8_t ent[8] = {0};
        if (read(ctx, root + ACPI_HDR_LEN + (paddr_t)i * esize, ent, esize) != 0)
            return ksnprintf(why, ACPI_WHY_LEN, "%s entry %u cannot be read", rname, i), -E_RANGE;
        paddr_t pa = esize == 8 ? rd64(ent) : rd32(ent);
        if (!range_ok(pa, ACPI_HDR_LEN) || read(ctx, pa, hdr, sizeof(hdr)) != 0)
            continue; /* not readable: not a table we can use */
        if (memcmp(hdr, "APIC", 4) != 0)
            continue;
        uint32_t mlen = rd32(hdr + 4);
        if (mlen < MADT_FIXED || mlen > ACPI_TABLE_MAX || mlen > bufsize) {
            ksnprintf(why, ACPI_WHY_LEN, "MADT at 0x%llx has length %u: needs %u..%zu",
                      (unsigned long long)pa, mlen, MADT_FIXED,
                      MIN(bufsize, (size_t)ACPI_TABLE_MAX));
            return -E_INVAL;
        }
        if (!range_ok(pa, mlen) || read(ctx, pa, buf, mlen) != 0) {
            ksnprintf(why, ACPI_WHY_LEN, "MADT at 0x%llx (%u bytes) cannot be read",
                      (unsigned long long)pa, mlen);
            return -E_RANGE;
        }
        out->madt_phys = pa;
        out->via_xsdt = esize == 8;
        out->rsdp_revision = rev;
        return acpi_madt_parse(buf, mlen, out, why);
    }
    ksnprintf(why, ACPI_WHY_LEN, "no MADT (\"APIC\") among the %u tables of the %s", n, rname);
    return -E_NOENT;
}
