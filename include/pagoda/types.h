/*
 * Basic types shared by the kernel and the host builds of its portable cores.
 *
 * paddr_t and vaddr_t are both integers, on purpose: neither may be
 * dereferenced without first being turned into a pointer by code that knows
 * which mapping makes it valid (the recursive window, the temp window, ...).
 */
#ifndef PAGODA_TYPES_H
#define PAGODA_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t paddr_t; /* a physical address */
typedef uint64_t vaddr_t; /* a virtual address held as a number */

#define PAGE_SHIFT 12
#define PAGE_SIZE  4096ULL
#define PAGE_MASK  (PAGE_SIZE - 1)

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

/* Round to a power-of-two alignment `a`. */
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define ALIGN_UP(x, a)   ALIGN_DOWN((x) + ((__typeof__(x))(a) - 1), (a))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define IS_POW2(x)       ((x) != 0 && ((x) & ((x) - 1)) == 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

#define UNUSED(x) ((void)(x))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#endif
