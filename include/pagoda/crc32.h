#ifndef PAGODA_CRC32_H
#define PAGODA_CRC32_H

#include <pagoda/types.h>

/* CRC-32 of len bytes, zlib-compatible: crc32("123456789") == 0xCBF43926. */
uint32_t crc32(const void *data, size_t len);
/* Continue a CRC over more data (start with crc = 0). */
uint32_t crc32_update(uint32_t crc, const void *data, size_t len);

#endif
