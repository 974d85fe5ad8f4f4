/*
 * In-kernel tests that run whole user programs (`test=user_`): clean exits,
 * demand paging, fork with copy-on-write, crashes that kill only their
 * process, out of memory (the per-process limit and an empty PMM), the
 * system-call fuzzer, and preemption. They need the program modules; without
 * them each says "skipped".
 */
#include <pagoda/errno.h>
#include <pagoda/ktest.h>
#include <pagoda/pmm.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>
#include <pagoda/syscall.h>
#include <pagoda/vmm.h>

#include "proc.h"
#include "user_ktest.h"

static bool have_programs(void)
{
    if (proc_module_lookup("hello"))
        return true;
    printk("  (skipped: no user program modules on this boot)\n");
    return false;
}

/* Run a program to its end; its status, and its kill report in report. */
static int run(const char *name, const char *arg, char *report, size_t size)
{
    char *argv[2] = {(char *)name, (char *)arg};
    struct proc *p = proc_spawn(name, arg ? 2 : 1, argv);
    if (!p)
        return -1000;
    int status = -1000;
    report[0] = 0;
    if (proc_wait_for(p->pid, &status, report, size) != 0)
        return -1001;
    return status;
}

/* The whole of a test whose program must exit 0 and give back every frame
 * it took. */
static void run_clean(const char *name)
{
    if (!have_programs())
        return;
    char rep[200];
    uint64_t free0 = proc_free_frames();
    KT_ASSERT_EQ(run(name, NULL, rep, sizeof(rep)), 0);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_hello_exit_frees)
{
    run_clean("hello");
}

/* A program's write goes out under the console lock, so another CPU's
 * printk cannot cut into it (nor race it on the framebuffer). */
static volatile int locked_writes, unlocked_writes;
static void note_write(const char *s, size_t n)
{
    static const char want[] = "hello from user space";
    if (n < sizeof(want) - 1 || memcmp(s, want, sizeof(want) - 1) != 0)
        return;
    if (console_held_here())
        locked_writes++;
    else
        unlocked_writes++;
}

KTEST(user_write_takes_the_console_lock)
{
    if (!have_programs())
        return;
    char rep[200];
    locked_writes = unlocked_writes = 0;
    console_write_hook = note_write;
    int rc = run("hello", NULL, rep, sizeof(rep));
    console_write_hook = NULL;
    KT_ASSERT_EQ(rc, 0);
    KT_ASSERT_EQ(locked_writes, 1);
    KT_ASSERT_EQ(unlocked_writes, 0);
}

KTEST(user_demand_program)
{
    run_clean("demand");
}

KTEST(user_fork_exit_no_leak)
{
    run_clean("cow");
}

KTEST(user_crashes_kill_only_the_process)
{
    if (!have_programs())
        return;
    static const struct {
        const char *name, *arg, *says;
    } crashes[] = {
        {"crash-null", NULL, "NULL page"},   {"crash-kernel", NULL, "kernel memory"},
        {"crash-text", NULL, "region code"}, {"crash-stack", NULL, "guard gap"},
        {"crash-exec", NULL, "exec at"},     {"crash-exec", "heap", "region heap"},
    };
    char rep[200];
    uint64_t free0 = proc_free_frames();
    for (size_t i = 0; i < ARRAY_SIZE(crashes); i++) {
        int st = run(crashes[i].name, crashes[i].arg, rep, sizeof(rep));
        if (st != EXIT_KILLED || !user_kt_contains(rep, crashes[i].says)) {
            ktest_fail(__FILE__, __LINE__, "%s: status %d, report '%s' (wanted '%s')",
                       crashes[i].name, st, rep, crashes[i].says);
            return;
        }
        KT_ASSERT_EQ(proc_free_frames(), free0);
    }
}

KTEST(user_hog_out_of_memory)
{
    if (!have_programs())
        return;
    char rep[200];
    uint64_t free0 = proc_free_frames();
    int st = run("hog", NULL, rep, sizeof(rep));
    KT_ASSERT(st == 0 ||
              (st == EXIT_KILLED && user_kt_contains(rep, "out of memory (its frame limit")));
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_syscall_fuzz)
{
    run_clean("sysfuzz");
}

/* Take free frames out of the PMM until `keep` are left, chained through
 * their first word; give them back with undrain. */
static paddr_t drain_to(uint64_t keep)
{
    paddr_t head = 0;
    while (proc_free_frames() > keep) {
        paddr_t f = (paddr_t)pmm_alloc(1);
        if (!f)
            break;
        uint64_t *w = vmm_map_temp(f);
        *w = head;
        vmm_unmap_temp(w);
        head = f;
    }
    return head;
}

static void undrain(paddr_t head)
{
    while (head) {
        uint64_t *w = vmm_map_temp(head);
        paddr_t next = *w;
        vmm_unmap_temp(w);
        pmm_free((void *)head, 1);
        head = next;
    }
}

KTEST(user_hog_pmm_exhausted)
{
    if (!have_programs())
        return;
    /* Leave the PMM fewer frames than the per-process limit: hog must be
     * killed when the PMM itself runs dry, and the kernel go on. */
    char rep[200];
    uint64_t free0 = proc_free_frames();
    paddr_t held = drain_to(USER_FRAME_LIMIT / 4);
    int st = run("hog", NULL, rep, sizeof(rep));
    uint64_t during = proc_free_frames();
    undrain(held);
    KT_ASSERT_EQ(st, EXIT_KILLED);
    KT_ASSERT(user_kt_contains(rep, "out of memory (no free frame in the PMM)"));
    KT_ASSERT(during <= USER_FRAME_LIMIT / 4);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}

KTEST(user_preemption)
{
    if (!have_programs())
        return;
    /* spin never enters the kernel: hello can only finish beside it if the
     * timer takes the CPU from spin. */
    char rep[200], *argv[1] = {"spin"};
    uint64_t free0 = proc_free_frames();
    struct proc *s = proc_spawn("spin", 1, argv);
    KT_ASSERT(s != NULL);
    int spid = s->pid;
    KT_ASSERT_EQ(run("hello", NULL, rep, sizeof(rep)), 0);
    KT_ASSERT(s->ticks > 0);
    KT_ASSERT_EQ(proc_kill(spid), 0);
    int st = 0;
    KT_ASSERT_EQ(proc_wait_for(spid, &st, rep, sizeof(rep)), 0);
    KT_ASSERT_EQ(st, EXIT_KILLED);
    KT_ASSERT_EQ(proc_free_frames(), free0);
}
