/*
 * libFuzzer target for the Multiboot2 -> stivale2 adapter. The input is the
 * info block itself; its `reserved` word doubles as the info's physical
 * address, so the carve-outs move too. Beyond "no crash" (ASan, UBSan), every
 * result must keep the adapter's promises, checked here:
 *   - the memory map is sorted, disjoint, non-empty entries of known types,
 *     usable/bootloader-reclaimable 4 KiB aligned, same-type neighbours merged;
 *   - usable memory is usable in the input and overlaps no more restrictive
 *     input entry, no module, not the kernel and not the info block;
 *   - capacities hold, strings are terminated, the tag chain is short and
 *     points into the context only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagoda/errno.h>
#include <pagoda/mb2.h>

#include "../../src/boot/mb2_internal.h"
#include "fuzz_support.h"

static struct mb2_ctx ctx;
static _Alignas(8) uint8_t info[MB2_INFO_MAX / 16];

static bool overlaps(uint64_t b1, uint64_t l1, uint64_t b2, uint64_t l2)
{
    if (l1 == 0 || l2 == 0)
        return false;
    uint64_t e1 = b1 + (l1 - 1), e2 = b2 + (l2 - 1); /* inclusive, no wrap */
    return b1 <= e2 && b2 <= e1;
}

static bool in_ctx(uint64_t p, size_t len)
{
    uintptr_t lo = (uintptr_t)&ctx, hi = lo + sizeof(ctx);
    return p >= lo && p + len <= hi;
}

static void check_map(const struct mb2_env *env)
{
    struct stivale2_struct_tag_memmap *m =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_MEMMAP_ID);
    INVARIANT(m != NULL);
    INVARIANT(m->entries <= MB2_MAX_MEMMAP);
    const char *why = mb2_memmap_verify(m);
    if (why)
        fprintf(stderr, "memmap: %s\n", why);
    INVARIANT(why == NULL);

    struct stivale2_struct_tag_modules *mt =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_MODULES_ID);
    for (uint64_t i = 0; i < m->entries; i++) {
        const struct stivale2_mmap_entry *e = &m->memmap[i];
        bool free_ish =
            e->type == STIVALE2_MMAP_USABLE || e->type == STIVALE2_MMAP_BOOTLOADER_RECLAIMABLE;
        if (!free_ish)
            continue;
        /* Restrictive input types win over it. */
        for (unsigned k = 0; k < ctx.nin; k++)
            if (ctx.in[k].type != STIVALE2_MMAP_USABLE)
                INVARIANT(!overlaps(e->base, e->length, ctx.in[k].base,
                                    ctx.in[k].last - ctx.in[k].base + 1 ?: UINT64_MAX));
        /* It is RAM by the input's word. */
        uint64_t end = e->base + e->length;
        INVARIANT(mb2_memmap_covers(&ctx, e->base, end ? end : UINT64_MAX));
        /* The kernel and the modules are never free-ish. */
        INVARIANT(!overlaps(e->base, e->length, env->kernel_phys_start,
                            env->kernel_phys_end - env->kernel_phys_start));
        for (uint64_t j = 0; mt && j < mt->module_count; j++)
            INVARIANT(!overlaps(e->base, e->length, mt->modules[j].begin,
                                mt->modules[j].end - mt->modules[j].begin));
        /* The info block is at best bootloader-reclaimable. */
        if (e->type == STIVALE2_MMAP_USABLE && env->info_phys + ctx.info_size > env->info_phys)
            INVARIANT(!overlaps(e->base, e->length, env->info_phys, ctx.info_size));
    }
}

static void check_result(int r, const struct mb2_env *env)
{
    INVARIANT(r == 0 || r == -E_NOENT || r == -E_INVAL);
    INVARIANT(ctx.nlog <= MB2_LOG_MAX && ctx.nlog <= ctx.nproblems);
    for (unsigned i = 0; i < ctx.nlog; i++)
        INVARIANT(memchr(ctx.log[i], 0, MB2_LOG_LINE) != NULL);
    INVARIANT(memchr(ctx.info.bootloader_brand, 0, 64) &&
              memchr(ctx.info.bootloader_version, 0, 64));

    /* The chain: short, inside ctx, no identifier twice. */
    uint64_t seen[16];
    unsigned n = 0;
    for (uint64_t p = ctx.info.tags; p; p = ((struct stivale2_tag *)(uintptr_t)p)->next) {
        INVARIANT(n < 16 && in_ctx(p, sizeof(struct stivale2_tag)));
        uint64_t id = ((struct stivale2_tag *)(uintptr_t)p)->identifier;
        for (unsigned i = 0; i < n; i++)
            INVARIANT(seen[i] != id);
        seen[n++] = id;
    }
    if (r == 0)
        check_map(env);
    else
        INVARIANT(stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_MEMMAP_ID) == NULL);

    struct stivale2_struct_tag_cmdline *c =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_CMDLINE_ID);
    if (c)
        INVARIANT(c->cmdline == (uintptr_t)ctx.cmdline && memchr(ctx.cmdline, 0, MB2_CMDLINE_MAX));
    struct stivale2_struct_tag_modules *mt =
        stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_MODULES_ID);
    for (uint64_t j = 0; mt && j < mt->module_count; j++) {
        INVARIANT(mt->module_count <= MB2_MAX_MODULES);
        INVARIANT(mt->modules[j].begin <= mt->modules[j].end);
        INVARIANT(memchr(mt->modules[j].string, 0, STIVALE2_MODULE_STRING_SIZE));
    }
    struct stivale2_struct_tag_pmrs *p = stivale2_get_tag(&ctx.info, STIVALE2_STRUCT_TAG_PMRS_ID);
    for (uint64_t j = 0; p && j < p->entries; j++) {
        INVARIANT(p->entries <= MB2_MAX_PMRS);
        INVARIANT(p->pmrs[j].length > 0 && (p->pmrs[j].permissions & STIVALE2_PMR_READABLE));
        if (j > 0)
            INVARIANT(p->pmrs[j - 1].base <= p->pmrs[j].base);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = size < sizeof(info) ? size : sizeof(info);
    memcpy(info, data, n);
    uint32_t reserved = n >= 8 ? mb2_rd32(info + 4) : 0;
    struct mb2_env env = {
        .kernel_phys_start = 0x100000,
        .kernel_phys_end = 0x10F000,
        .kernel_virt_base = 0xffffffff80100000ULL,
        .info_phys = reserved ? reserved : 0x10F458,
    };
    check_result(mb2_adapt(&ctx, info, n, &env), &env);
    /* The same bytes at an odd address: reads must not depend on alignment. */
    if (n > 0 && n < sizeof(info)) {
        memmove(info + 1, info, n);
        check_result(mb2_adapt(&ctx, info + 1, n, &env), &env);
    }
    return 0;
}
