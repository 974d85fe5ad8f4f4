/*
 * Sampled guard pages: a KFENCE of Pagoda's own.
 *
 * Theory of operation
 * -------------------
 * The pool is KFENCE_POOL_PAGES pages of address space: guard, slot 0,
 * guard, slot 1, ..., slot N-1, guard. Guard pages are never present. A
 * slot's page is present only while it holds a live object.
 *
 * kmalloc decrements its CPU's countdown (in the heap's front) on every call; when it
 * reaches zero it offers the allocation here, and the countdown is re-armed with a
 * pseudo-random interval in [N/2, 3N/2] (so a bug cannot hide in the
 * allocations a fixed stride never samples). A sampled object of `size`
 * bytes takes the oldest free slot: the page is made present, the object is
 * placed at the highest 16-byte aligned address that fits, so its end
 * touches the guard page above, give or take the < 16 bytes alignment
 * leaves, and the 256 bytes below it and that gap get canary bytes (a
 * function of each byte's address). Then:
 *  - a read or write past the end faults in the guard page at once;
 *  - a write into the bytes just before the object or the alignment gap
 *    after it changes canary bytes, found when the object is freed (or by
 *    kfence_check);
 *  - kfree makes the page not present, so any later access faults; freed
 *    slots are reused oldest first, so they stay unmapped as long as possible;
 *  - a kfree of a pointer that is not a live object's start is a double free
 *    (the slot's last object, already freed) or an invalid free.
 * Each slot keeps the object's address and size and the stacks that
 * allocated and freed it, which every report prints. Faults reach us through
 * kfence_fault, which the page-fault handler calls before anything else.
 *
 * Cost: kmalloc's fast path pays a decrement and a branch (kfree's, nothing:
 * the pool is outside the heap's bounds, so its check sits on the path of
 * pointers from outside). A sample costs a page mapping, a 272-byte fill and
 * a stack capture; its free, a 272-byte check, a stack capture and an
 * unmapping: about 2,400 instructions for the pair, measured on the host.
 *
 * Weaknesses: objects above a page are never sampled; a stray write more
 * than 256 bytes below an object is not seen (an access below the page
 * faults in the guard page, like one above); aligned allocations
 * above 16 bytes never come here; an overflow that lands in the alignment
 * gap is only seen at free; the pool holds KFENCE_SLOTS objects, so a
 * leak-heavy workload fills it and sampling stops until some are freed.
 * SMP: the pool (slots, queue, random state, statistics) is under kf.lock
 * (LOCK_LEVEL_KFENCE, outside the heap's: kfence_realloc calls kmalloc with
 * it released); the countdowns are per CPU. Never called from interrupt
 * handlers (kfence_fault, from the page-fault handler, only reads).
 */
#include <pagoda/errno.h>
#include "kfence_internal.h"
#include <pagoda/kmalloc.h>
#include <pagoda/printk.h>
#include <pagoda/spinlock.h>
#include <pagoda/string.h>

uintptr_t kfence_pool_lo, kfence_pool_bytes;

struct kfence_pool kf = {.lock = SPINLOCK_INIT("kfence", LOCK_LEVEL_KFENCE)};

#define COUNTDOWN_OFF UINT64_MAX

/* A canary byte depends on its address's low 3 bits (so a shifted copy of
 * canary bytes is still caught), and the pattern repeats every 8 bytes: the
 * page is filled and checked a 64-bit word at a time. */
static uint8_t canary_byte(uintptr_t a)
{
    return (uint8_t)(0xaa ^ (a & 7));
}
#define CANARY_WORD 0xadacafaea9a8abaaULL /* bytes 0xaa ^ 0..7, little-endian */

/* The canary bytes guard the KFENCE_CANARY_SPAN bytes below the object and
 * the alignment gap above it: a handful of cache lines, not the whole page,
 * because filling and checking 4 KiB of cold memory per sample was most of
 * a sample's cost. Farther below the object is old memory nobody checks. */
#define KFENCE_CANARY_SPAN 256

static uintptr_t canary_lo(const struct kslot *s)
{
    return s->addr - MIN((uintptr_t)KFENCE_CANARY_SPAN, s->addr - s->page);
}

/* Fill [lo, page end) (lo 32-aligned): the object is written over it. */
static void fill_canary(uintptr_t lo, uintptr_t end)
{
    uint64_t *w = (uint64_t *)lo;
    for (size_t i = 0; i < (end - lo) / 8; i += 4) {
        w[i] = CANARY_WORD;
        w[i + 1] = CANARY_WORD;
        w[i + 2] = CANARY_WORD;
        w[i + 3] = CANARY_WORD;
    }
}

static uint64_t next_rand(void)
{
    /* xorshift64*: cheap, and enough to scatter the sampling points. */
    kf.rng ^= kf.rng >> 12;
    kf.rng ^= kf.rng << 25;
    kf.rng ^= kf.rng >> 27;
    return kf.rng * 0x2545f4914f6cdd1dULL;
}

/* Re-arm CPU cpu's countdown (under kf.lock). */
static void rearm(unsigned cpu)
{
    uint64_t n = kf.interval, c = COUNTDOWN_OFF;
    if (n != 0 && kf.src)
        c = n == 1 ? 1 : n - n / 2 + next_rand() % (n + 1);
    heap_sample_arm(cpu, c);
}

static void queue_push(struct kslot *s)
{
    s->next = NULL;
    if (kf.tail)
        kf.tail->next = s;
    else
        kf.head = s;
    kf.tail = s;
}

static struct kslot *queue_pop(void)
{
    struct kslot *s = kf.head;
    if (s) {
        kf.head = s->next;
        if (!kf.head)
            kf.tail = NULL;
    }
    return s;
}

void kfence_init(struct kfence_source *src, uint64_t interval, uint64_t seed)
{
    for (unsigned i = 0; i < KFENCE_SLOTS; i++)
        if (kf.slots[i].state == SLOT_LIVE)
            panic("kfence_init: object %p still live", (void *)kf.slots[i].addr);
    memset(&kf, 0, sizeof(kf));
    spin_init(&kf.lock, "kfence", LOCK_LEVEL_KFENCE);
    kf.src = src;
    kf.rng = (seed ^ 0x9e3779b97f4a7c15ULL) | 1;
    kfence_pool_lo = src ? src->base : 0;
    kfence_pool_bytes = src ? KFENCE_POOL_BYTES : 0;
    for (unsigned i = 0; src && i < KFENCE_SLOTS; i++) {
        struct kslot *s = &kf.slots[i];
        s->page = src->base + (2 * i + 1) * PAGE_SIZE;
        s->usable = true;
        queue_push(s);
    }
    kf.st.slots = src ? KFENCE_SLOTS : 0;
    kfence_set_interval(interval);
}

void kfence_set_interval(uint64_t interval)
{
    spin_lock(&kf.lock);
    kf.interval = interval;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) /* other CPUs' too: a lost race only delays */
        rearm(i);
    spin_unlock(&kf.lock);
}

uint64_t kfence_interval(void)
{
    return kf.src ? kf.interval : 0;
}

void kfence_force_next(void)
{
    if (kf.src)
        heap_sample_arm(this_cpu()->index, 1);
}

/* ---------------------------------------------------------------- reports */

/* The slot whose page is page index pi of the pool, or NULL (a guard). */
static struct kslot *slot_of_page(uintptr_t pi)
{
    return (pi & 1) && pi / 2 < KFENCE_SLOTS ? &kf.slots[pi / 2] : NULL;
}

/* ---------------------------------------------------------------- alloc/free */

void *kfence_alloc_sampled(size_t size)
{
    spin_lock(&kf.lock);
    rearm(this_cpu()->index);
    struct kslot *s = NULL;
    if (!kf.src || kf.interval == 0)
        goto out;
    if (size > PAGE_SIZE) {
        kf.st.too_big++;
        goto out;
    }
    for (;;) {
        s = queue_pop();
        if (!s) {
            kf.st.pool_full++;
            goto out;
        }
        if (kf.src->set_present(kf.src, s->page, true) == 0)
            break;
        s->usable = false; /* no page for it: drop it from the pool */
        kf.st.slots--;
    }
    size_t span = ALIGN_UP(MAX(size, (size_t)1), 16);
    s->addr = s->page + PAGE_SIZE - span;
    fill_canary(ALIGN_DOWN(canary_lo(s), 32), s->page + PAGE_SIZE);
    s->size = size;
    s->state = SLOT_LIVE;
    s->nfree = 0;
    s->nalloc = (uint8_t)(kf.src->stack ? kf.src->stack(s->alloc_pcs, KFENCE_STACK_DEPTH) : 0);
    kf.st.allocs++;
    kf.st.live++;
    kf.st.live_bytes += size;
out:
    spin_unlock(&kf.lock);
    return s ? (void *)s->addr : NULL;
}

/* The first and last canary byte of s found changed; false if none. The
 * words below the object are compared whole (the common case: all intact);
 * only a damaged word, and the < 16 bytes around the object's end, are
 * looked at byte by byte. */
static bool canary_damage(const struct kslot *s, uintptr_t *first, uintptr_t *last)
{
    const uint8_t *pg = (const uint8_t *)s->page;
    uintptr_t lo = canary_lo(s);
    const uint64_t *w = (const uint64_t *)lo;
    size_t words = (s->addr - lo) / 8; /* both 16-aligned */
    uint64_t diff = 0;
    size_t i = 0;
    for (; i + 4 <= words; i += 4)
        diff |= (w[i] ^ CANARY_WORD) | (w[i + 1] ^ CANARY_WORD) | (w[i + 2] ^ CANARY_WORD) |
                (w[i + 3] ^ CANARY_WORD);
    for (; i < words; i++)
        diff |= w[i] ^ CANARY_WORD;
    uintptr_t end = s->addr + s->size, tail = s->addr + ALIGN_UP(MAX(s->size, (size_t)1), 16);
    bool bad = false;
    for (uintptr_t a = end; a < tail; a++)
        bad |= pg[a - s->page] != canary_byte(a);
    if (!diff && !bad)
        return false;
    bad = false;
    for (uintptr_t a = lo; a < s->page + PAGE_SIZE; a++) {
        if (a == s->addr && s->size) {
            a = end - 1; /* skip the object itself */
            continue;
        }
        if (pg[a - s->page] != canary_byte(a)) {
            if (!bad)
                *first = a;
            *last = a;
            bad = true;
        }
    }
    return bad;
}

static void report_damage(const struct kslot *s, uintptr_t first, uintptr_t last, const char *found)
{
    char rel[64];
    kfence_where(rel, sizeof(rel), s, first);
    kfence_report_begin();
    printk("kfence: BUG: out-of-bounds write at 0x%016llx (%s the %zu-byte object at 0x%016llx)\n",
           (unsigned long long)first, rel, s->size, (unsigned long long)s->addr);
    printk("  canary bytes changed at 0x%016llx..0x%016llx, found %s\n", (unsigned long long)first,
           (unsigned long long)last, found);
    kfence_report_object(s);
}

/* A bad kfree: print the report and panic naming the kind. */
__attribute__((noreturn)) static void bad_free(const char *kind, const struct kslot *s,
                                               const void *p)
{
    uintptr_t pcs[KFENCE_STACK_DEPTH];
    unsigned n = kf.src && kf.src->stack ? kf.src->stack(pcs, KFENCE_STACK_DEPTH) : 0;
    kfence_report_begin();
    printk("kfence: BUG: %s of 0x%016llx\n", kind, (unsigned long long)(uintptr_t)p);
    if (s && s->state != SLOT_UNUSED) {
        char rel[64];
        kfence_where(rel, sizeof(rel), s, (uintptr_t)p);
        printk("  the pointer is %s the %zu-byte object at 0x%016llx\n", rel, s->size,
               (unsigned long long)s->addr);
    }
    kfence_print_stack("kfree called by", pcs, n);
    kfence_report_object(s);
    kfence_report_end();
    spin_unlock(&kf.lock); /* a recovered panic must not leave it held */
    if (s && s->state != SLOT_UNUSED)
        panic("kfence: %s of %p (the %zu-byte object at %p)", kind, p, s->size, (void *)s->addr);
    panic("kfence: %s of %p (no sampled object there)", kind, p);
}

/* The live slot whose object starts at p; any other p is a bad free. */
static struct kslot *live_slot(const void *p, const char *what)
{
    uintptr_t pi = ((uintptr_t)p - kfence_pool_lo) / PAGE_SIZE;
    struct kslot *s = slot_of_page(pi);
    if (!s) { /* a guard page: name the nearest object, if any */
        struct kslot *l = pi / 2 > 0 ? &kf.slots[pi / 2 - 1] : NULL;
        bad_free(what, l && l->state != SLOT_UNUSED ? l : NULL, p);
    }
    if (s->state == SLOT_FREED && s->addr == (uintptr_t)p)
        bad_free("double free", s, p);
    if (s->state != SLOT_LIVE || s->addr != (uintptr_t)p)
        bad_free(what, s, p);
    return s;
}

void kfence_free(void *p)
{
    spin_lock(&kf.lock);
    struct kslot *s = live_slot(p, "invalid free");
    uintptr_t pcs[KFENCE_STACK_DEPTH], first, last;
    unsigned n = kf.src->stack ? kf.src->stack(pcs, KFENCE_STACK_DEPTH) : 0;
    if (canary_damage(s, &first, &last)) {
        report_damage(s, first, last, "when it was freed");
        kfence_print_stack("freed by", pcs, n);
        kfence_report_end();
        spin_unlock(&kf.lock);
        panic("kfence: out-of-bounds write at %p (the %zu-byte object at %p), found on free",
              (void *)first, s->size, (void *)s->addr);
    }
    memcpy(s->free_pcs, pcs, n * sizeof(pcs[0]));
    s->nfree = (uint8_t)n;
    s->state = SLOT_FREED;
    kf.src->set_present(kf.src, s->page, false);
    queue_push(s);
    kf.st.frees++;
    kf.st.live--;
    kf.st.live_bytes -= s->size;
    spin_unlock(&kf.lock);
}

size_t kfence_usable_size(const void *p)
{
    spin_lock(&kf.lock);
    size_t n = live_slot(p, "kmalloc_usable_size of a pointer kmalloc never returned")->size;
    spin_unlock(&kf.lock);
    return n;
}

void *kfence_realloc(void *p, size_t size)
{
    size_t old = kfence_usable_size(p); /* the caller owns p: it stays live */
    void *q = kmalloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, MIN(size, old));
    kfence_free(p);
    return q;
}

/* ---------------------------------------------------------------- faults */

bool kfence_fault(uintptr_t va, bool write, uintptr_t pc)
{
    if (!kfence_owns((const void *)va))
        return false;
    uintptr_t pi = (va - kfence_pool_lo) / PAGE_SIZE;
    struct kslot *s = slot_of_page(pi);
    const char *kind;
    if (s) {
        kind = s->state == SLOT_FREED ? "use-after-free" : "invalid access";
    } else {
        /* A guard page: the nearer object, live ones first. */
        struct kslot *l = pi / 2 > 0 ? &kf.slots[pi / 2 - 1] : NULL;
        struct kslot *r = pi / 2 < KFENCE_SLOTS ? &kf.slots[pi / 2] : NULL;
        if (l && l->state == SLOT_UNUSED)
            l = NULL;
        if (r && r->state == SLOT_UNUSED)
            r = NULL;
        if (l && r && (l->state == SLOT_LIVE) != (r->state == SLOT_LIVE))
            s = l->state == SLOT_LIVE ? l : r;
        else if (l && r)
            s = va - (l->addr + l->size) <= r->addr - va ? l : r;
        else
            s = l ? l : r;
        kind = "out-of-bounds";
    }
    char rel[64] = "";
    if (s && s->state != SLOT_UNUSED)
        kfence_where(rel, sizeof(rel), s, va);
    kfence_report_begin();
    printk("kfence: BUG: %s %s at 0x%016llx", kind, write ? "write" : "read",
           (unsigned long long)va);
    if (rel[0])
        printk(" (%s the %zu-byte object at 0x%016llx)", rel, s->size, (unsigned long long)s->addr);
    printk("\n");
    if (kf.src && kf.src->print_pc) {
        printk("  the %s, by:\n", write ? "write" : "read");
        kf.src->print_pc(0, pc);
    } else {
        printk("  the %s, by pc 0x%016llx\n", write ? "write" : "read", (unsigned long long)pc);
    }
    kfence_report_object(s);
    kfence_report_end();
    return true;
}

int kfence_check(void)
{
    int rc = 0;
    spin_lock(&kf.lock);
    for (unsigned i = 0; i < KFENCE_SLOTS; i++) {
        struct kslot *s = &kf.slots[i];
        uintptr_t first, last;
        if (s->state == SLOT_LIVE && canary_damage(s, &first, &last)) {
            report_damage(s, first, last, "by a check");
            kfence_report_end();
            rc = -E_CORRUPT;
        }
    }
    spin_unlock(&kf.lock);
    return rc;
}

/* ---------------------------------------------------------------- stats */

void kfence_get_stats(struct kfence_stats *st)
{
    spin_lock(&kf.lock);
    *st = kf.st;
    spin_unlock(&kf.lock);
    st->interval = kfence_interval();
}

/* Slot i's live object (kfence_stats.c lists them): false if none. */
bool kfence_slot_live(unsigned i, uintptr_t *addr, size_t *size)
{
    if (i >= KFENCE_SLOTS)
        return false;
    spin_lock(&kf.lock);
    const struct kslot *s = &kf.slots[i];
    bool live = s->state == SLOT_LIVE;
    *addr = s->addr;
    *size = s->size;
    spin_unlock(&kf.lock);
    return live;
}
