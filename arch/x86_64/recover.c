/*
 * Surviving faults in the monitor.
 *
 * Three ways back:
 *  - trap_recover_safe, before any handler: a #PF/#GP/#SS/#AC whose RIP lies
 *    inside safe.asm's access range resumes at its fixup, which returns
 *    -E_RANGE to the caller of arch_safe_copy or arch_safe_store. It comes
 *    first so that a peek never has side effects: no handler gets to demand-
 *    page, or to panic about, an address the monitor merely looked at.
 *  - trap_recover, after the handlers declined: any exception (not NMI or
 *    #MC) while a recovery point is armed is reported, decoded, and resumes
 *    at that point (arch_recover_arm returns 1).
 *  - arch_recover_resume, from panic(): a handler that reports and panics
 *    (the VMM's page-fault report does) also lands back at the point.
 * Using a point disarms it and re-arms the one it covered (points nest, the
 * monitor's around a test's), so a fault in a report cannot loop. The last
 * two ways also give back what the VMM held for the abandoned code (temp
 * slots, the foreign slot) and end any PIC line still in service, whose
 * handler was cut short: the point is outside every interrupt handler.
 * Everything else stays fatal, as before.
 */
#include <arch/arch.h>
#include <arch/monitor.h>
#include <arch/paging.h>
#include <pagoda/errno.h>
#include <pagoda/percpu.h>
#include <pagoda/printk.h>

#include "irq.h"
#include "recover.h"
#include "vmm_internal.h"
#include "x86.h"

extern const uint8_t safe_access_start[], safe_access_end[], safe_access_fixup[];

struct arch_recover *recover_point; /* set by arch_recover_arm (safe.asm) */
/* Each CPU's last caught fault: safe copies from user memory run on every
 * CPU, and one CPU's fault must not replace the one another reports. */
static struct arch_fault last_fault[SMP_MAX_CPUS];

static struct arch_fault *my_last(void)
{
    return &last_fault[this_cpu()->index];
}

const struct arch_fault *arch_last_fault(void)
{
    return my_last();
}

bool arch_va_canonical(vaddr_t va)
{
    return pg_is_canonical(va);
}

_Static_assert(__builtin_offsetof(struct arch_recover, rflags) == 64,
               "safe.asm stores the registers at these offsets");

/* Called by arch_recover_arm (safe.asm) once the registers are saved: r
 * covers the point armed before it, and records what the VMM holds now. */
void recover_push(struct arch_recover *r);
void recover_push(struct arch_recover *r)
{
    r->prev = recover_point;
    vmm_recover_save(r->undo);
    recover_point = r;
}

/* Take the innermost point for a resume: the one it covered is armed again,
 * whatever the abandoned code took since r was armed is given back, and any
 * PIC line whose handler was cut short is ended (its EOI will never come,
 * and the line, with every lower-priority one, would stay blocked: the
 * monitor would wait for input in hlt forever). */
struct arch_recover *recover_take(void);
struct arch_recover *recover_take(void)
{
    struct arch_recover *r = recover_point;
    recover_point = r->prev;
    vmm_recover_restore(r->undo);
    pic_eoi_in_service();
    return r;
}

void arch_recover_disarm(struct arch_recover *r)
{
    /* Only a point still in the chain: one already used was popped, and
     * the chain above it belongs to its callers. */
    for (struct arch_recover *p = recover_point; p; p = p->prev)
        if (p == r) {
            recover_point = r->prev;
            return;
        }
}

void arch_fault_describe(const struct arch_fault *f, char *buf, size_t size)
{
    uint64_t off = 0;
    const char *sym = ksym_lookup(f->rip, &off);
    char where[96];
    if (sym)
        ksnprintf(where, sizeof(where), "%s+0x%llx", sym, (unsigned long long)off);
    else
        ksnprintf(where, sizeof(where), "0x%016llx", (unsigned long long)f->rip);

    if (f->vector == 14) {
        char why[96];
        trap_decode_pf(f->error, why, sizeof(why));
        ksnprintf(buf, size, "%s at 0x%016llx (%s) in %s", trap_name(f->vector),
                  (unsigned long long)f->addr, why, where);
    } else {
        ksnprintf(buf, size, "%s, error 0x%llx, in %s", trap_name(f->vector),
                  (unsigned long long)f->error, where);
    }
}

static void record(const struct trap_frame *f)
{
    struct arch_fault *last = my_last();
    last->vector = f->vector;
    last->error = f->error;
    last->addr = f->vector == 14 ? read_cr2() : 0;
    last->rip = f->rip;
}

bool trap_recover_safe(struct trap_frame *f)
{
    uint64_t v = f->vector;
    if ((v == 13 || v == 14 || v == 12 || v == 17) && f->rip >= (uint64_t)safe_access_start &&
        f->rip < (uint64_t)safe_access_end) {
        record(f);
        f->rip = (uint64_t)safe_access_fixup;
        return true;
    }
    return false;
}

bool arch_recover_armed(void)
{
    return recover_point != NULL;
}

bool trap_recover(struct trap_frame *f)
{
    uint64_t v = f->vector;
    if (v >= 32 || v == 2 || v == 18)
        return false;
    if (!recover_point)
        return false;
    record(f);
    char line[200];
    arch_fault_describe(my_last(), line, sizeof(line));
    printk("\n*** caught %s\n", line);
    const char *stack = kstack_overflow(v, f->rsp, read_cr2());
    if (stack)
        printk("*** that is a kernel stack overflow: %s hit its guard page\n", stack);
    else
        arch_backtrace(f->rbp); /* (an overflow's would be one function, 30 times) */

    struct arch_recover *r = recover_take();
    f->rbx = r->rbx;
    f->rbp = r->rbp;
    f->r12 = r->r12;
    f->r13 = r->r13;
    f->r14 = r->r14;
    f->r15 = r->r15;
    f->rsp = r->rsp;
    f->rip = r->rip;
    f->rflags = r->rflags;
    f->rax = 1;
    return true;
}
