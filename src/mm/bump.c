/*
 * The bump arena: the heap before there is a page source.
 *
 * Structure: KBUMP_SIZE bytes of .bss and one cursor. An allocation moves the
 * cursor up; nothing is ever given back. kmalloc uses it until kheap_init,
 * storing a 16-byte header (the size) in front so krealloc and
 * kmalloc_usable_size work on these pointers too; kfree recognises them by
 * address and ignores them.
 *
 * Invariants: base <= cursor <= base + KBUMP_SIZE; every pointer handed out
 * is 16-byte aligned. Cost: O(1). Weakness: the memory is never reused, so
 * only boot-time allocations that live forever belong here. Running out is a
 * boot bug and panics, naming the request.
 */
#include "heap_internal.h"

static uint8_t bump_arena[KBUMP_SIZE] __attribute__((aligned(4096)));
static size_t bump_cursor;

void *kbump_alloc(size_t size, size_t align)
{
    if (align < 16 || !IS_POW2(align))
        align = 16;
    uintptr_t base = (uintptr_t)bump_arena;
    uintptr_t at = ALIGN_UP(base + bump_cursor, (uintptr_t)align);
    if (size > KBUMP_SIZE || at - base > KBUMP_SIZE - size)
        panic("heap: bump arena exhausted: %zu of %zu bytes used, %zu more asked "
              "(call kheap_init earlier or raise KBUMP_SIZE)",
              bump_cursor, (size_t)KBUMP_SIZE, size);
    bump_cursor = at - base + ALIGN_UP(size, (size_t)16);
    return (void *)at;
}

/* kmalloc before kheap_init: a bump block with a size header. A request
 * the arena can never hold (kmalloc(SIZE_MAX), say) returns NULL, as
 * kmalloc promises; running out of a once-sufficient arena still panics. */
void *bump_kmalloc(size_t size, size_t align)
{
    align = MAX(align, (size_t)16);
    if (size > KBUMP_SIZE - HDR_SIZE || align > KBUMP_SIZE / 2)
        return NULL;
    uintptr_t raw = (uintptr_t)kbump_alloc(size + HDR_SIZE + align - 16, 16);
    uintptr_t pay = ALIGN_UP(raw + HDR_SIZE, (uintptr_t)align);
    struct hhdr *h = hdr_of((void *)pay);
    h->info = size;
    h->tag = 0;
    return (void *)pay;
}

bool bump_contains(const void *p)
{
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)bump_arena;
    return a >= base && a < base + KBUMP_SIZE;
}

size_t bump_used(void)
{
    return bump_cursor;
}
