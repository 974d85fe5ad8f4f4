/*
 * Machine checks: enabled at boot, reported like any other fatal exception.
 *
 * Without CR4.MCE a machine check is a shutdown (a triple fault, in effect),
 * and the #MC handler with its IST stack is dead code. mce_init sets it when
 * CPUID has MCE and, with MCA, turns on reporting in every bank (MCG_CTL and
 * each MCi_CTL all ones, as the architecture asks) after clearing what the
 * firmware left in the status registers. A #MC is then delivered on its own
 * stack, and mce_report prints MCG_STATUS and every bank whose status is
 * valid, decoded, before trap.c's fatal report.
 *
 * The MSRs are reached through arch_safe_rdmsr/wrmsr: an emulator that
 * announces MCA but lacks some of its registers gives a #GP, which is
 * caught, and that bank is skipped.
 */
#include <pagoda/printk.h>

#include "cpu.h"
#include "x86.h"

#define MSR_MCG_CAP    0x179
#define MSR_MCG_STATUS 0x17A
#define MSR_MCG_CTL    0x17B
#define MSR_MC_CTL(i)    (0x400 + 4 * (i))
#define MSR_MC_STATUS(i) (0x401 + 4 * (i))
#define MSR_MC_ADDR(i)   (0x402 + 4 * (i))
#define MSR_MC_MISC(i)   (0x403 + 4 * (i))

#define MCG_CTL_P     (1ULL << 8)
#define MCI_VAL       (1ULL << 63)
#define MCI_MISCV     (1ULL << 59)
#define MCI_ADDRV     (1ULL << 58)
#define CPUID_1_MCE   (1u << 7)
#define CPUID_1_MCA   (1u << 14)
#define CR4_MCE       (1ULL << 6)
#define MCE_BANKS_MAX 32

static unsigned banks;

static uint32_t cpuid1_edx(void)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    return d;
}

bool mce_init(void)
{
    uint32_t d = cpuid1_edx();
    if (!(d & CPUID_1_MCE))
        return false;
    if (d & CPUID_1_MCA) {
        uint64_t cap = 0;
        if (arch_safe_rdmsr(MSR_MCG_CAP, &cap) == 0) {
            banks = (unsigned)(cap & 0xFF);
            if (banks > MCE_BANKS_MAX)
                banks = MCE_BANKS_MAX;
            if (cap & MCG_CTL_P)
                arch_safe_wrmsr(MSR_MCG_CTL, ~0ULL);
            for (unsigned i = 0; i < banks; i++) {
                arch_safe_wrmsr(MSR_MC_CTL(i), ~0ULL);
                arch_safe_wrmsr(MSR_MC_STATUS(i), 0);
            }
        }
    }
    write_cr4(read_cr4() | CR4_MCE);
    return true;
}

unsigned mce_banks(void)
{
    return banks;
}

bool mce_enabled(void)
{
    return read_cr4() & CR4_MCE;
}

void mce_decode_status(uint64_t status, char *buf, size_t size)
{
    if (!(status & MCI_VAL)) {
        ksnprintf(buf, size, "not valid");
        return;
    }
    ksnprintf(buf, size, "valid%s%s%s%s%s%s, error code 0x%04llx",
              status & (1ULL << 62) ? " overflow" : "",
              status & (1ULL << 61) ? " uncorrected" : " corrected",
              status & (1ULL << 60) ? " enabled" : "",
              status & MCI_MISCV ? " misc-valid" : "",
              status & MCI_ADDRV ? " addr-valid" : "",
              status & (1ULL << 57) ? " processor-context-corrupt" : "",
              (unsigned long long)(status & 0xFFFF));
}

void mce_report(void)
{
    uint64_t g = 0;
    if (arch_safe_rdmsr(MSR_MCG_STATUS, &g) != 0) {
        printk("\n*** machine check: no MCA registers to read\n");
        return;
    }
    printk("\n*** machine check: MCG_STATUS=0x%llx (%s%s%s), %u banks\n", (unsigned long long)g,
           g & 1 ? "restart-ip-valid" : "restart-ip-invalid", g & 2 ? " error-ip-valid" : "",
           g & 4 ? " in-progress" : "", banks);
    unsigned shown = 0;
    for (unsigned i = 0; i < banks; i++) {
        uint64_t st = 0, addr = 0, misc = 0;
        if (arch_safe_rdmsr(MSR_MC_STATUS(i), &st) != 0 || !(st & MCI_VAL))
            continue;
        char why[160];
        mce_decode_status(st, why, sizeof(why));
        printk("    bank %u: status 0x%016llx: %s\n", i, (unsigned long long)st, why);
        if ((st & MCI_ADDRV) && arch_safe_rdmsr(MSR_MC_ADDR(i), &addr) == 0)
            printk("    bank %u: address 0x%llx\n", i, (unsigned long long)addr);
        if ((st & MCI_MISCV) && arch_safe_rdmsr(MSR_MC_MISC(i), &misc) == 0)
            printk("    bank %u: misc 0x%llx\n", i, (unsigned long long)misc);
        shown++;
    }
    if (!shown)
        printk("    no bank holds a valid error\n");
}
