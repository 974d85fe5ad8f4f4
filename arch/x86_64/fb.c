/*
 * The framebuffer console: the portable drawing core (src/lib/fbcon.c) on
 * the linear framebuffer GRUB reports (UEFI always; BIOS in the
 * "Pagoda (framebuffer)" entry), with the PSF2 font the build converted
 * (build/font.c).
 *
 * The framebuffer is device memory: it is mapped through the VMM into a
 * kernel virtual range, write-combining through the PAT where the CPU has
 * one, uncached otherwise, never write-back (the boot identity map would be
 * write-back, so nothing is drawn before vmm_init). Until then, console
 * output is kept in an early log and replayed when the screen comes up, so
 * the screen shows the whole boot log, as VGA text does. From then on the
 * VGA text buffer is left alone: there is no text mode under a framebuffer.
 *
 * A shadow copy of the screen in RAM makes scrolling one sequential write to
 * the device; without memory for it, rows move on the screen itself.
 */
#include <arch/arch.h>
#include <pagoda/bootinfo.h>
#include <pagoda/errno.h>
#include <pagoda/fbcon.h>
#include <pagoda/memlayout.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

#include "console.h"
#include "x86.h"

extern const struct fbcon_font fbcon_font; /* build/font.c */

#define EARLY_LOG 16384

static struct fbcon con;
static bool active;
static bool early_done; /* the early log is closed: replayed or dropped */
static char early[EARLY_LOG];
static size_t early_len; /* bytes written into early, wrapping */

bool fb_console_active(void)
{
    return active;
}

void fb_console_write(const char *s, size_t n)
{
    if (active) {
        /* Interrupts off, so that a handler's printk cannot land in the
         * middle of a glyph or a scroll. */
        bool irq = arch_irq_save();
        fbcon_write(&con, s, n);
        arch_irq_restore(irq);
        return;
    }
    if (early_done)
        return;
    for (size_t i = 0; i < n; i++)
        early[early_len++ % EARLY_LOG] = s[i];
}

/* Replay the early log; after a wrap, from the first whole line. */
static void replay_early(void)
{
    size_t start = 0, len = early_len;
    if (early_len > EARLY_LOG) {
        start = early_len - EARLY_LOG;
        len = EARLY_LOG;
        while (len > 0) {
            len--;
            if (early[start++ % EARLY_LOG] == '\n')
                break;
        }
    }
    for (size_t i = 0; i < len; i++)
        fbcon_write(&con, &early[(start + i) % EARLY_LOG], 1);
}

/* Scrolling's bulk copy, ascending: eight bytes a step, then the tail.
 * Real CPUs move bytes as fast (rep movsb is fast since Ivy Bridge), but an
 * emulator steps once per element, so this is 8x fewer steps under TCG. */
static void fb_copy(void *dst, const void *src, size_t n)
{
    size_t q = n / 8, r = n % 8;
    __asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(q)::"memory");
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(r)::"memory");
}

/* The TSC's rate, measured once against 10 ms of PIT channel 2 (the
 * speaker channel, gated through port 0x61, so the system timer on channel
 * 0 is untouched): the lowest of three windows, since a late look at OUT2
 * (an emulator descheduled) only makes a window longer. 0 when the PIT
 * never counts down. */
static uint64_t tsc_hz(void)
{
    static uint64_t hz;
    const uint16_t count = 11932; /* 10 ms at 1.193182 MHz */
    if (hz)
        return hz;
    uint8_t p61 = inb(0x61);
    uint64_t best = UINT64_MAX;
    for (int w = 0; w < 3; w++) {
        outb(0x61, (uint8_t)((p61 & ~0x03) | 0x01)); /* gate on, speaker off */
        outb(0x43, 0xB0);                            /* channel 2, lo/hi, mode 0 */
        outb(0x42, (uint8_t)count);
        outb(0x42, (uint8_t)(count >> 8)); /* loading the count starts it */
        uint64_t t0 = rdtsc_fenced();
        uint32_t spins = 0;
        while (!(inb(0x61) & 0x20) && ++spins < 10000000u) /* OUT2 rises at zero */
            ;
        uint64_t dt = rdtsc_fenced() - t0;
        if (spins >= 10000000u)
            break;
        if (dt < best)
            best = dt;
    }
    outb(0x61, p61);
    if (best != UINT64_MAX)
        hz = best * 1193182ULL / count;
    return hz;
}

static const char *cache_name(void)
{
    return x86_pat_init() ? "write-combining" : "uncached";
}

void arch_fb_console_init(void)
{
    struct stivale2_struct_tag_framebuffer *t =
        stivale2_get_tag(boot_info_get(), STIVALE2_STRUCT_TAG_FRAMEBUFFER_ID);
    if (!t) { /* VGA text (or nothing): the early log is not needed */
        early_done = true;
        return;
    }
    const char *cache = cache_name();
    paddr_t phys = t->framebuffer_addr;
    size_t bytes = (size_t)t->framebuffer_pitch * t->framebuffer_height;
    size_t pages = ALIGN_UP((phys & PAGE_MASK) + bytes, PAGE_SIZE) / PAGE_SIZE;
    /* A kernel virtual range with no frames behind it, then the device's
     * pages mapped into it. It is never given back (vmm_free would hand the
     * device's pages to the PMM). */
    uint8_t *va = vmm_alloc(pages * PAGE_SIZE, VMM_DEMAND | VMM_WRITE | VMM_NX);
    int rc = va ? vmm_map_range((vaddr_t)va, ALIGN_DOWN(phys, PAGE_SIZE), pages,
                                VMM_WRITE | VMM_NX | VMM_WC)
                : -1;
    if (rc != 0) {
        early_done = true;
        printk("fbcon: cannot map the %zu-page framebuffer at 0x%llx (%s): no screen output\n",
               pages, (unsigned long long)phys, va ? err_name(rc) : "no kernel virtual space");
        return;
    }
    struct fbcon_surface s = {
        .base = va + (phys & PAGE_MASK),
        .width = t->framebuffer_width,
        .height = t->framebuffer_height,
        .pitch = t->framebuffer_pitch,
        .bpp = (uint8_t)t->framebuffer_bpp,
        .red_shift = t->red_mask_shift,
        .red_size = t->red_mask_size,
        .green_shift = t->green_mask_shift,
        .green_size = t->green_mask_size,
        .blue_shift = t->blue_mask_shift,
        .blue_size = t->blue_mask_size,
    };
    uint8_t *shadow = vmm_alloc(bytes, VMM_WRITE | VMM_NX);
    if (fbcon_init(&con, &s, &fbcon_font, shadow) != 0) {
        early_done = true;
        if (shadow)
            vmm_free(shadow);
        printk("fbcon: cannot draw on a %ux%u framebuffer of %u bpp (red %u@%u green %u@%u "
               "blue %u@%u, pitch %u): no screen output\n",
               s.width, s.height, s.bpp, s.red_size, s.red_shift, s.green_size, s.green_shift,
               s.blue_size, s.blue_shift, s.pitch);
        return;
    }
    con.copy = fb_copy;
    vga_disable();
    replay_early();
    early_done = true;
    fbcon_cursor(&con, true);
    active = true;
    printk("fbcon: %ux%u, %u bpp (red %u@%u green %u@%u blue %u@%u), pitch %u, at phys 0x%llx, "
           "mapped %s at 0x%llx\n",
           s.width, s.height, s.bpp, s.red_size, s.red_shift, s.green_size, s.green_shift,
           s.blue_size, s.blue_shift, s.pitch, (unsigned long long)phys, cache,
           (unsigned long long)(vaddr_t)va);
    printk("fbcon: font %s %ux%u, %ux%u cells, %s\n", fbcon_font.name, fbcon_font.width,
           fbcon_font.height, con.cols, con.rows,
           shadow ? "scrolling from a shadow in RAM" : "no shadow (rows move on the screen)");
}

/* For the in-kernel tests: where the screen is mapped (NULL: no console). */
const struct fbcon *fb_console_get(void)
{
    return active ? &con : NULL;
}

/* kbench's figure for the screen: full-screen scrolls, best of several. */
void arch_fb_console_bench(void)
{
    if (!active) {
        printk("kbench: fb_scroll skipped (no framebuffer console)\n");
        return;
    }
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t t0 = rdtsc_fenced();
        fbcon_scroll(&con);
        uint64_t dt = rdtsc_fenced() - t0;
        if (dt < best)
            best = dt;
    }
    uint64_t hz = tsc_hz();
    printk("kbench: fb_scroll %ux%ux%u: %llu cycles per full-screen scroll", con.s.width,
           con.s.height, con.s.bpp, (unsigned long long)best);
    if (hz)
        printk(" = %llu us (TSC %llu MHz by the PIT)", (unsigned long long)(best * 1000000 / hz),
               (unsigned long long)(hz / 1000000));
    printk(", %s\n", con.shadow ? "from the shadow" : "rows moved on the screen");
}
