/*
 * Building Multiboot2 information blobs by hand, for the adapter's host
 * tests and the seed corpus of its fuzzer. Header-only, host-only.
 */
#ifndef PAGODA_TESTS_MB2_BLOB_H
#define PAGODA_TESTS_MB2_BLOB_H

#include <stdint.h>
#include <string.h>

#define BLOB_MAX 65536

struct blob {
    _Alignas(8) uint8_t buf[BLOB_MAX];
    uint32_t len;
};

struct mb2_in_entry {
    uint64_t base, length;
    uint32_t type;
};

static inline void blob_put32(struct blob *b, uint32_t off, uint32_t v)
{
    memcpy(b->buf + off, &v, 4);
}
static inline void blob_put64(struct blob *b, uint32_t off, uint64_t v)
{
    memcpy(b->buf + off, &v, 8);
}

static inline void blob_init(struct blob *b)
{
    memset(b->buf, 0, sizeof(b->buf));
    b->len = 8;
}

/* Append a tag of `size` bytes (header included) whose body is `body`
 * (size - 8 bytes, may be NULL for zeros); returns its offset. */
static inline uint32_t blob_tag(struct blob *b, uint32_t type, uint32_t size, const void *body)
{
    uint32_t off = b->len;
    blob_put32(b, off, type);
    blob_put32(b, off + 4, size);
    if (body && size > 8)
        memcpy(b->buf + off + 8, body, size - 8);
    b->len = (off + size + 7) & ~7u;
    return off;
}

/* The END tag, and total_size set to the length so far. */
static inline void blob_end(struct blob *b)
{
    blob_tag(b, 0, 8, NULL);
    blob_put32(b, 0, b->len);
}

static inline uint32_t blob_string(struct blob *b, uint32_t type, const char *s)
{
    return blob_tag(b, type, 8 + (uint32_t)strlen(s) + 1, s);
}

static inline uint32_t blob_module(struct blob *b, uint32_t start, uint32_t end, const char *name)
{
    uint8_t body[256] = {0};
    memcpy(body, &start, 4);
    memcpy(body + 4, &end, 4);
    size_t n = strlen(name) + 1;
    memcpy(body + 8, name, n);
    return blob_tag(b, 3, 16 + (uint32_t)n, body);
}

static inline uint32_t blob_meminfo(struct blob *b, uint32_t lower_kib, uint32_t upper_kib)
{
    uint32_t body[2] = {lower_kib, upper_kib};
    return blob_tag(b, 4, 16, body);
}

/* A memory-map tag with entries of esize bytes (24, 32, 48...); the bytes
 * past the 24 a entry uses are filled with 0xA5 to catch a fixed stride. */
static inline uint32_t blob_mmap(struct blob *b, uint32_t esize, const struct mb2_in_entry *e,
                                 unsigned n)
{
    uint32_t off = b->len, size = 16 + esize * n;
    blob_put32(b, off, 6);
    blob_put32(b, off + 4, size);
    blob_put32(b, off + 8, esize);
    blob_put32(b, off + 12, 0);
    for (unsigned i = 0; i < n; i++) {
        uint32_t p = off + 16 + i * esize;
        memset(b->buf + p, 0xA5, esize);
        blob_put64(b, p, e[i].base);
        blob_put64(b, p + 8, e[i].length);
        blob_put32(b, p + 16, e[i].type);
        blob_put32(b, p + 20, 0);
    }
    b->len = (off + size + 7) & ~7u;
    return off;
}

/* The QEMU 7.2 / SeaBIOS map at -m 128M (see SPECS.md). */
static const struct mb2_in_entry blob_qemu_map[] = {
    {0x0, 0x9FC00, 1},
    {0x9FC00, 0x400, 2},
    {0xF0000, 0x10000, 2},
    {0x100000, 0x7EE0000, 1},
    {0x7FE0000, 0x20000, 2},
    {0xFFFC0000, 0x40000, 2},
    {0xFD00000000, 0x300000000, 2},
};

#endif
