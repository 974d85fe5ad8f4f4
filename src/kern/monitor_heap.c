/*
 * Monitor commands on the kernel heap: kmalloc, kfree, heap, slabinfo, and
 * the heap's part of `mem`. Until the heap branch is merged, they say so.
 */
#include <pagoda/printk.h>

#include "monitor.h"

void mon_heap_summary(void) { mon_unavailable("heap statistics"); }

void mon_cmd_kmalloc(int argc, char **argv) { mon_unavailable("kmalloc"); }
void mon_cmd_kfree(int argc, char **argv) { mon_unavailable("kfree"); }
void mon_cmd_heap(int argc, char **argv) { mon_unavailable("heap"); }
void mon_cmd_slabinfo(int argc, char **argv) { mon_unavailable("slabinfo"); }
