/*
 * Monitor commands on virtual memory: peek, poke, walk, map, unmap.
 *
 * peek and poke never touch memory directly: arch_safe_copy and
 * arch_safe_store turn a #PF or #GP into an error, which we decode. walk
 * reads the tables through the recursive slot (arch_pt_walk). map and unmap
 * go through the VMM, and refuse the regions the kernel itself lives in:
 * unmapping a page of the kernel's own text or tables from the monitor would
 * bring the kernel down a moment later, which is a crash, not a lesson. map
 * and poke also refuse the kernel's frames and data (monitor_guard.c says
 * which); map! and poke! do it anyway, with a warning.
 */
#include <arch/monitor.h>
#include <arch/paging.h>
#include <pagoda/errno.h>
#include <pagoda/memlayout.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/vmm.h>

#include "monitor.h"

#define PEEK_DEFAULT 64
#define PEEK_MAX 4096
#define PEEK_LINE 16

static void print_fault(const char *what, vaddr_t va)
{
    char line[200];
    arch_fault_describe(arch_last_fault(), line, sizeof(line));
    printk("%s 0x%016llx failed: %s\n", what, (unsigned long long)va, line);
}

void mon_cmd_peek(int argc, char **argv)
{
    vaddr_t va;
    uint64_t n = PEEK_DEFAULT;
    if (!mon_va(argv[1], &va))
        return;
    if (argc > 2 && !mon_count(argv[2], "byte count", PEEK_MAX, &n))
        return;
    vaddr_t last = va + n - 1;
    if (last < va || !arch_va_canonical(last)) {
        printk("0x%llx + %llu runs past the end of canonical space\n", (unsigned long long)va,
               (unsigned long long)n);
        return;
    }
    for (uint64_t off = 0; off < n; off += PEEK_LINE) {
        uint8_t b[PEEK_LINE];
        size_t len = n - off < PEEK_LINE ? n - off : PEEK_LINE;
        if (arch_safe_copy(b, (const void *)(va + off), len) != 0) {
            print_fault("reading", va + off);
            return;
        }
        char hex[3 * PEEK_LINE + 1], asc[PEEK_LINE + 1];
        for (size_t i = 0; i < PEEK_LINE; i++) {
            if (i < len)
                ksnprintf(hex + 3 * i, 4, "%02x ", b[i]);
            else
                ksnprintf(hex + 3 * i, 4, "   ");
            asc[i] = i < len ? (b[i] >= 0x20 && b[i] < 0x7F ? (char)b[i] : '.') : '\0';
        }
        asc[len] = '\0';
        printk("%016llx: %s |%s|\n", (unsigned long long)(va + off), hex, asc);
    }
}

/* In the recursive or the foreign window: the page tables themselves. */
static bool in_table_window(vaddr_t va)
{
    return pg_l4(va) == RECURSIVE_SLOT || pg_l4(va) == FOREIGN_SLOT;
}

void mon_cmd_poke(int argc, char **argv)
{
    vaddr_t va;
    uint64_t value, size = 8;
    if (!mon_va(argv[1], &va) || !mon_num(argv[2], "value", &value))
        return;
    if (argc > 3 && !mon_num(argv[3], "size", &size))
        return;
    if (size != 1 && size != 2 && size != 4 && size != 8) {
        printk("size %llu: expected 1, 2, 4 or 8 bytes\n", (unsigned long long)size);
        return;
    }
    if (size < 8 && value >> (size * 8)) {
        printk("value 0x%llx does not fit in %llu byte(s)\n", (unsigned long long)value,
               (unsigned long long)size);
        return;
    }
    if (!arch_va_canonical(va + size - 1) || va + size - 1 < va) {
        printk("0x%llx + %llu runs past the end of canonical space\n", (unsigned long long)va,
               (unsigned long long)size);
        return;
    }
    /* A store into a page table through its window changes a mapping with no
     * invlpg and behind the VMM's accounting: one word can unmap the kernel,
     * and the machine resets at the next TLB miss. A store into the IDT, the
     * GDT, the TSS, the temp window's tables, the bitmap or the heap is as
     * bad, a little later. map and unmap do the mapping job properly. */
    vaddr_t last = va + size - 1;
    if (mon_forced(argv[0])) {
        printk("warning: poke! writes wherever it is told: the kernel may not survive it\n");
    } else {
        char why[240];
        vaddr_t at = va;
        bool busy = mon_addr_busy(va, why, sizeof(why));
        if (!busy && (last & ~(vaddr_t)PAGE_MASK) != (va & ~(vaddr_t)PAGE_MASK))
            busy = mon_addr_busy(at = last, why, sizeof(why));
        if (busy) {
            printk("refusing: 0x%llx is %s; %spoke! does it anyway\n", (unsigned long long)at,
                   why, in_table_window(at) ? "use map and unmap (walk shows the entries), or " : "");
            return;
        }
    }
    if (arch_safe_store(va, value, (unsigned)size) != 0) {
        print_fault("writing", va);
        return;
    }
    uint64_t back = 0;
    if (arch_safe_copy(&back, (const void *)va, size) != 0) {
        print_fault("reading back", va);
        return;
    }
    printk("0x%016llx <- 0x%llx (%llu byte%s), reads back 0x%llx\n", (unsigned long long)va,
           (unsigned long long)value, (unsigned long long)size, size > 1 ? "s" : "",
           (unsigned long long)back);
}

static const char *size_name(uint64_t bytes)
{
    return bytes == (1ULL << 30) ? "1 GiB" : bytes == (1ULL << 21) ? "2 MiB" : "4 KiB";
}

void mon_cmd_walk(int argc, char **argv)
{
    vaddr_t va;
    if (!mon_va(argv[1], &va))
        return;
    struct arch_walk w;
    int err = arch_pt_walk(va, &w);
    printk("walk 0x%016llx (indices %u/%u/%u/%u, offset 0x%llx)\n", (unsigned long long)va,
           (unsigned)(va >> 39) & 511, (unsigned)(va >> 30) & 511, (unsigned)(va >> 21) & 511,
           (unsigned)(va >> 12) & 511, (unsigned long long)(va & 0xFFF));
    for (unsigned d = 0; d < w.levels; d++) {
        const struct arch_walk_level *l = &w.lv[d];
        char flags[64];
        arch_pte_decode(l->raw, flags, sizeof(flags));
        printk("  %-4s[%3u] at 0x%016llx = 0x%016llx  %s\n", l->name, l->index,
               (unsigned long long)l->entry_va, (unsigned long long)l->raw, flags);
        if (!l->present)
            printk("  -> stops here: %s entry %u is not present\n", l->name, l->index);
        else if (l->leaf)
            printk("  -> %s page at phys 0x%llx\n", size_name(l->leaf_size),
                   (unsigned long long)l->next);
        else
            printk("  -> next table at phys 0x%llx\n", (unsigned long long)l->next);
    }
    if (err == -E_RANGE)
        print_fault("reading the table entry at", w.lv[w.levels - 1].entry_va);
    else if (w.mapped)
        printk("0x%016llx => phys 0x%llx\n", (unsigned long long)va, (unsigned long long)w.phys);
    else
        printk("0x%016llx is not mapped\n", (unsigned long long)va);
}

/* Addresses map and unmap may touch: canonical, page-aligned, not the
 * kernel's own. */
static bool playground_page(const char *arg, vaddr_t *va, bool force)
{
    if (!mon_va(arg, va))
        return false;
    if (*va & PAGE_MASK) {
        printk("0x%llx is not page-aligned (4 KiB)\n", (unsigned long long)*va);
        return false;
    }
    const char *owner = force ? NULL : mon_kernel_region(*va);
    if (owner) {
        printk("refusing: 0x%llx is in %s, which the kernel needs intact\n",
               (unsigned long long)*va, owner);
        return false;
    }
    return true;
}

static bool parse_flags(const char *s, unsigned *flags)
{
    bool exec = false;
    *flags = 0;
    for (; *s; s++) {
        switch (*s) {
        case 'r':
            break; /* pages are always readable */
        case 'w':
            *flags |= VMM_WRITE;
            break;
        case 'x':
            exec = true;
            break;
        case 'u':
            *flags |= VMM_USER;
            break;
        case 'g':
            *flags |= VMM_GLOBAL;
            break;
        case 'c':
            *flags |= VMM_NOCACHE;
            break; /* for device memory */
        default:
            printk("bad flag '%c': expected some of r w x u g c\n", *s);
            return false;
        }
    }
    if (!exec)
        *flags |= VMM_NX;
    return true;
}

void mon_cmd_map(int argc, char **argv)
{
    vaddr_t va;
    uint64_t pa;
    unsigned flags;
    bool force = mon_forced(argv[0]);
    if (!playground_page(argv[1], &va, force) || !mon_num(argv[2], "physical address", &pa))
        return;
    if (pa & PAGE_MASK) {
        printk("0x%llx is not page-aligned (4 KiB)\n", (unsigned long long)pa);
        return;
    }
    if (pa >= arch_phys_limit()) {
        printk("0x%llx is beyond this CPU's physical address space (0x%llx)\n",
               (unsigned long long)pa, (unsigned long long)arch_phys_limit());
        return;
    }
    if (!parse_flags(argc > 3 ? argv[3] : "r", &flags))
        return;
    if (force) {
        printk("warning: map! maps any frame: a write through it can bring the kernel down\n");
    } else {
        char why[200];
        if (mon_frame_busy(pa, why, sizeof(why))) {
            printk("refusing: frame 0x%llx is %s; map! does it anyway\n", (unsigned long long)pa,
                   why);
            return;
        }
        if ((flags & VMM_GLOBAL) && va < USER_LIMIT) {
            printk("refusing: global pages (g) are for the kernel half: one in the user half "
                   "would outlive a switch of address space\n");
            return;
        }
    }
    int err = vmm_map(va, pa, flags);
    if (err) {
        printk("map failed: %s\n", err_name(err));
        return;
    }
    printk("mapped 0x%016llx -> phys 0x%llx\n", (unsigned long long)va, (unsigned long long)pa);
}

void mon_cmd_unmap(int argc, char **argv)
{
    vaddr_t va;
    if (!playground_page(argv[1], &va, false))
        return;
    paddr_t pa = 0;
    int err = vmm_unmap(va, &pa);
    if (err) {
        printk("unmap failed: %s\n", err_name(err));
        return;
    }
    printk("unmapped 0x%016llx (was phys 0x%llx; the frame stays allocated)\n",
           (unsigned long long)va, (unsigned long long)pa);
}
