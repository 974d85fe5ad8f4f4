/*
 * In-kernel tests of what the monitor stands on: fault-safe access, the
 * recovery point, the page-table walk, and the input translation.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/memlayout.h>
#include <pagoda/percpu.h>
#include <pagoda/printk.h>
#include <pagoda/smp.h>
#include <pagoda/string.h>
#include <pagoda/vmm.h>

#include "cpu.h"
#include "irq.h"
#include "x86.h"

static uint64_t target = 0x1122334455667788ULL;

KTEST(mon_safe_copy_reads_and_survives)
{
    uint64_t v = 0;
    KT_ASSERT_EQ(arch_safe_copy(&v, &target, 8), 0);
    KT_ASSERT_EQ(v, target);

    /* Page 0 is never mapped: a #PF, caught, with the fault recorded. */
    KT_ASSERT_EQ(arch_safe_copy(&v, (const void *)8, 8), -E_RANGE);
    KT_ASSERT_EQ(arch_last_fault()->vector, 14);
    KT_ASSERT_EQ(arch_last_fault()->addr, 8);
    KT_ASSERT_EQ(arch_last_fault()->error & 1, 0); /* not present */

    /* A non-canonical address: #GP, caught too. */
    KT_ASSERT_EQ(arch_safe_copy(&v, (const void *)0x8000000000000000ULL, 8), -E_RANGE);
    KT_ASSERT_EQ(arch_last_fault()->vector, 13);
    KT_ASSERT_EQ(v, target); /* nothing was written on failure */
}

KTEST(mon_safe_store_sizes_and_protection)
{
    uint64_t word = 0;
    KT_ASSERT_EQ(arch_safe_store((vaddr_t)&word, 0xAB, 1), 0);
    KT_ASSERT_EQ(arch_safe_store((vaddr_t)&word + 2, 0xCDEF, 2), 0);
    KT_ASSERT_EQ(arch_safe_store((vaddr_t)&word + 4, 0x01020304, 4), 0);
    KT_ASSERT_EQ(word, 0x01020304CDEF00ABULL);
    KT_ASSERT_EQ(arch_safe_store((vaddr_t)&word, 1, 3), -E_INVAL);

    /* .text is read-only once the VMM has run (W^X): a protection #PF. */
    vaddr_t text = (vaddr_t)&arch_safe_store;
    unsigned flags = 0;
    if (vmm_translate(text, NULL, &flags) == 0 && !(flags & VMM_WRITE)) {
        KT_ASSERT_EQ(arch_safe_store(text, 0xCC, 1), -E_RANGE);
        KT_ASSERT_EQ(arch_last_fault()->vector, 14);
        KT_ASSERT_EQ(arch_last_fault()->error & 3, 3); /* present, write */
    }
}

static volatile int reached;

KTEST(mon_recover_point_catches_a_fault)
{
    struct arch_recover r;
    volatile int rounds = 0;
    bool outer = arch_recover_armed(); /* the monitor's point, under `test` */
    reached = 0;
    int how = arch_recover_arm(&r);
    rounds++;
    if (how == 0) {
        __asm__ volatile("ud2");
        reached = 1; /* never: the #UD goes back to the point */
    }
    arch_recover_disarm(&r);
    KT_ASSERT_EQ(how, 1);
    KT_ASSERT_EQ(rounds, 2);
    KT_ASSERT_EQ(reached, 0);
    KT_ASSERT_EQ(arch_last_fault()->vector, 6);
    KT_ASSERT_EQ(arch_recover_armed(), outer); /* it disarmed itself */
}

KTEST(mon_walk_agrees_with_the_vmm)
{
    struct arch_walk w;
    vaddr_t va = (vaddr_t)&target;
    KT_ASSERT_EQ(arch_pt_walk(va, &w), 0);
    KT_ASSERT(w.mapped);
    paddr_t pa = 0;
    if (vmm_translate(va, &pa, NULL) == 0)
        KT_ASSERT_EQ(w.phys, pa);
    /* Level 0 is PML4 entry 511, seen through the recursive slot. */
    KT_ASSERT_EQ(w.lv[0].index, 511);
    KT_ASSERT_EQ(w.lv[0].entry_va, 0xffffff7fbfdfeff8ULL);

    KT_ASSERT_EQ(arch_pt_walk(0, &w), 0); /* page 0: somewhere, not present */
    KT_ASSERT(!w.mapped);
    KT_ASSERT(!w.lv[w.levels - 1].present);
    KT_ASSERT_EQ(arch_pt_walk(0x0000800000000000ULL, &w), -E_INVAL);
    KT_ASSERT(!arch_va_canonical(0x0000800000000000ULL));
    KT_ASSERT(arch_va_canonical(0xffff800000000000ULL));
}

/* Points nest: a point armed inside another (a test inside a monitor
 * command) is used by the first fault, and the outer point is armed again
 * for the next one. */
KTEST(mon_recover_points_nest)
{
    struct arch_recover outer, inner;
    volatile int inner_how = -1, after_inner = 0;
    reached = 0;
    int how = arch_recover_arm(&outer);
    if (how == 0) {
        inner_how = arch_recover_arm(&inner);
        if (inner_how == 0)
            __asm__ volatile("ud2");
        arch_recover_disarm(&inner); /* used already: nothing to do */
        after_inner = arch_recover_armed();
        if (after_inner)
            __asm__ volatile("ud2"); /* to the outer point */
        reached = 1;
    }
    arch_recover_disarm(&outer);
    KT_ASSERT_EQ(inner_how, 1);
    KT_ASSERT(after_inner);
    KT_ASSERT_EQ(how, 1);
    KT_ASSERT_EQ(reached, 0);

    /* Disarming in order, with no fault, leaves no point behind. */
    bool before = arch_recover_armed();
    if (arch_recover_arm(&outer) == 0) {
        if (arch_recover_arm(&inner) == 0)
            arch_recover_disarm(&inner);
        after_inner = arch_recover_armed();
        arch_recover_disarm(&outer);
    }
    KT_ASSERT(after_inner);
    KT_ASSERT_EQ(arch_recover_armed(), before);
}

/* Type scancodes, then collect what the keyboard queued. */
static void type(const uint8_t *codes, size_t n, char *out, size_t size)
{
    while (input_trypop() >= 0)
        ; /* start from an empty queue */
    for (size_t i = 0; i < n; i++)
        kbd_scancode(codes[i]);
    size_t len = 0;
    int c;
    while ((c = input_trypop()) >= 0 && len + 1 < size)
        out[len++] = (char)c;
    out[len] = '\0';
}

KTEST(mon_keyboard_speaks_like_a_terminal)
{
    static const uint8_t codes[] = {
        0x23, 0xA3, 0x12, 0x92,             /* h e, with releases */
        0x2A, 0x26, 0xA6, 0xAA, 0x26,       /* Shift-l, then l */
        0x1D, 0x16, 0x96, 0x9D,             /* Ctrl-u */
        0xE0, 0x48, 0xE0, 0xC8,             /* Up */
        0xE0, 0x50,                         /* Down */
        0x3A, 0xBA, 0x1E, 0x3A, 0xBA, 0x1E, /* Caps: A, Caps off: a */
        0x0E, 0x1C, 0x3B,                   /* Backspace, Enter, F1 (ignored) */
    };
    char got[32];
    type(codes, sizeof(codes), got, sizeof(got));
    KT_ASSERT_EQ(strcmp(got, "heLl\x15\x1b[A\x1b[BAa\x7f\r"), 0);
}

/* A fault (or a panic) inside an interrupt handler, while a monitor command
 * runs, goes back to the command's recovery point: the handler never
 * reaches its EOI. The PIC must not be left with that line in service, or it
 * would block the line and every lower-priority one (on the master: the
 * timer, the keyboard and COM1) for good, and the monitor would sleep in hlt
 * forever. */
static trap_handler_t saved_pit;
static volatile int pit_faults;
static volatile bool pit_panics;

static bool faulting_pit(struct trap_frame *f)
{
    trap_set_handler(IRQ_BASE + IRQ_PIT, saved_pit);
    pit_faults++;
    if (pit_panics)
        panic("test: a panic in the timer handler, before its EOI");
    __asm__ volatile("ud2"); /* dies before pic_eoi */
    return true;
}

/* Returns how the point was left (1 fault, 2 panic); *in_service: the PIC's
 * lines in service then; *ticked: the tick came back afterwards. */
static int cut_short_pit_handler(bool panics, uint16_t *in_service, bool *ticked)
{
    bool was_on = arch_irq_save();
    arch_input_start(); /* the PICs and the 100 Hz tick (turns interrupts on) */
    cli();
    saved_pit = trap_get_handler(IRQ_BASE + IRQ_PIT);
    pit_faults = 0;
    pit_panics = panics;
    trap_set_handler(IRQ_BASE + IRQ_PIT, faulting_pit);

    struct arch_recover r;
    int how = arch_recover_arm(&r); /* armed with interrupts off */
    if (how == 0)
        for (;;) /* wait for the tick; other interrupts just loop */
            __asm__ volatile("sti; hlt; cli" ::: "memory");
    arch_recover_disarm(&r);
    *in_service = pic_in_service();

    /* With the PIC released, the restored handler counts ticks again. */
    uint64_t t0 = arch_ticks();
    *ticked = false;
    sti();
    for (uint64_t i = 0; i < 200000000ULL && !*ticked; i++) {
        cpu_relax();
        *ticked = arch_ticks() != t0;
    }
    cli();
    arch_irq_restore(was_on);
    return how;
}

KTEST(mon_fault_in_irq_handler_releases_the_pic)
{
    uint16_t isr;
    bool ticked;
    KT_ASSERT_EQ(cut_short_pit_handler(false, &isr, &ticked), 1);
    KT_ASSERT_EQ(pit_faults, 1);
    KT_ASSERT_EQ(arch_last_fault()->vector, 6);
    KT_ASSERT_EQ(isr, 0);
    KT_ASSERT(ticked);
}

KTEST(mon_panic_in_irq_handler_releases_the_pic)
{
    uint16_t isr;
    bool ticked;
    KT_ASSERT_EQ(cut_short_pit_handler(true, &isr, &ticked), 2);
    KT_ASSERT_EQ(pit_faults, 1);
    KT_ASSERT_EQ(isr, 0);
    KT_ASSERT(ticked);
}

/* The fault a safe copy records is this CPU's: copies from user memory run
 * on every CPU, and another CPU's fault must not replace the one its caller
 * is about to report. The boot CPU faults at 8 and reads its record back
 * while the others fault at 16 as fast as they can. */
static volatile int hammer_stop, hammer_started;
static volatile unsigned own_mismatch;

static void fault_hammer(void *arg)
{
    UNUSED(arg);
    uint64_t v;
    if (this_cpu()->index != 0) {
        __atomic_add_fetch(&hammer_started, 1, __ATOMIC_RELAXED);
        while (!hammer_stop)
            arch_safe_copy(&v, (const void *)16, 8);
        return;
    }
    for (uint64_t t0 = arch_clock_ms(); arch_clock_ms() - t0 < 300;) {
        arch_safe_copy(&v, (const void *)8, 8);
        for (volatile int d = 0; d < 50; d++)
            ; /* a window for another CPU's fault */
        if (arch_last_fault()->addr != 8)
            own_mismatch++;
    }
    hammer_stop = 1;
}

KTEST(smp_safe_copy_fault_record_is_per_cpu)
{
    hammer_stop = 0;
    hammer_started = 0;
    own_mismatch = 0;
    int ran = smp_call_all(fault_hammer, NULL, 10000);
    printk("  (%d CPUs, %d faulting at 16 beside the boot CPU: %u records not its own)\n", ran,
           hammer_started, own_mismatch);
    KT_ASSERT(ran >= 1);
    KT_ASSERT_EQ(own_mismatch, 0u);
}
