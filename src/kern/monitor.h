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
