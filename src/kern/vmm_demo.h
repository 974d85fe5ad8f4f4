/* Boot-time demonstrations of the VMM (src/kern/vmm_demo.c, fault_demo.c). */
#ifndef PAGODA_KERN_VMM_DEMO_H
#define PAGODA_KERN_VMM_DEMO_H

/* The CraftyOS demonstration: 0xDEADBEEF mapped onto the frame holding
 * physical 0xBEEF, written there, read back through another mapping. */
void vmm_demo_craftyos(void);

/* Trigger one protection so that users can watch it fire: "null", "wx",
 * "nx", "stack" (all fatal) or "demand" (prints the value read; leaves the
 * emulator with success in fault= mode, returns otherwise). An unknown kind
 * prints the list and returns. */
void fault_demo_run(const char *kind);

#endif
