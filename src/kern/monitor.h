/* Private to the kernel monitor (src/kern/monitor*.c). */
#ifndef PAGODA_KERN_MONITOR_H
#define PAGODA_KERN_MONITOR_H

#include <pagoda/lineedit.h>
#include <pagoda/types.h>

#define MON_LINE_MAX LEDIT_LINE_MAX
#define MON_ARGS_MAX 8

struct mon_cmd {
    const char *name;
    const char *usage;      /* the arguments, e.g. "VA [N]" */
    const char *help;       /* one line */
    int min_args, max_args; /* not counting the command name */
    void (*fn)(int argc, char **argv);
};

/* Read one edited line (echoed, with history) into buf; returns its length. */
size_t mon_readline(const char *prompt, char *buf, size_t size);

/* Argument helpers: print a clear message and return false on bad input. */
bool mon_num(const char *arg, const char *what, uint64_t *out);
/* A canonical virtual address. */
bool mon_va(const char *arg, vaddr_t *out);
/* A count in 1..max ("absurd" beyond). */
bool mon_count(const char *arg, const char *what, uint64_t max, uint64_t *out);
/* Print "not available in this build" for a missing subsystem. */
void mon_unavailable(const char *what);
/* The kernel region that owns va, or NULL when the monitor may map there. */
const char *mon_kernel_region(vaddr_t va);

/* ---- the monitor's refusals (monitor_guard.c) ---- */
struct arch_frame_use;
/* Is this command the forced form ("map!", "free!", "poke!")? */
bool mon_forced(const char *cmd);
/* Is frame pa the kernel's (see monitor_guard.c)? Then true, with the reason
 * in why ("the live PML4 (CR3)", "the PMM bitmap", ...). */
bool mon_frame_busy(paddr_t pa, char *why, size_t size);
/* Is a store at va a store into the kernel? Then true, with the reason. */
bool mon_addr_busy(vaddr_t va, char *why, size_t size);
/* One use of a frame, in words. */
void mon_describe_use(const struct arch_frame_use *u, char *why, size_t size);
/* The boot memory map's type at pa (STIVALE2_MMAP_*), or -1 outside it. */
int mon_ram_type(paddr_t pa);
/* Does pa lie in a run the monitor's alloc handed out (and free has not
 * taken back)? */
bool mon_frame_owned(paddr_t pa);

/* The commands, by file. */
void mon_cmd_peek(int argc, char **argv);
void mon_cmd_poke(int argc, char **argv);
void mon_cmd_walk(int argc, char **argv);
void mon_cmd_map(int argc, char **argv);
void mon_cmd_unmap(int argc, char **argv);
void mon_cmd_mem(int argc, char **argv);
void mon_cmd_cpus(int argc, char **argv);
void mon_cmd_memmap(int argc, char **argv);
void mon_cmd_alloc(int argc, char **argv);
void mon_cmd_free(int argc, char **argv);
void mon_cmd_kmalloc(int argc, char **argv);
void mon_cmd_kfree(int argc, char **argv);
void mon_cmd_heap(int argc, char **argv);
void mon_cmd_slabinfo(int argc, char **argv);
/* The heap's part of `mem`. */
void mon_heap_summary(void);

#endif
