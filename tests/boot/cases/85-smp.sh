# SMP: every CPU online, the smp_ tests on 1, 2, 4 and 8 CPUs in QEMU (TCG,
# one host thread per vCPU) and on 2 CPUs in Bochs, the whole self-test on
# 2 and 4 CPUs, the stop NMI of a panic on any CPU, and `cpus` at the monitor.
# The smp_procs_ tests run the spin and cow programs: their ISO carries them
# (and a test without its programs says "skipped", which fails the case).
group smp
# Every smp_ test in the tree must run and pass: the count comes from the
# sources, so a test that is not linked in, or not selected, fails the case.
SMP_TESTS=$(grep -rhoE '^KTEST(_FLAGS)?\(smp_[a-z0-9_]+' src arch | sed 's/.*(//' | sort -u | wc -l)
for m in build/user/spin build/user/cow; do
    [ -f "$TEST_DIR/smptest.iso" ] && [ "$m" -nt "$TEST_DIR/smptest.iso" ] && rm -f "$TEST_DIR/smptest.iso"
done
iso smptest "test=smp_" build/user/spin build/user/cow
for n in 1 2 4 8; do
    cpus=CPUs
    [ $n = 1 ] && cpus=CPU
    qemu_case "smp-$n" smptest 33 --timeout 300 \
        --expect "^smp: MADT at 0x[0-9a-f]+ \(via [RX]SDT\): $n $cpus" \
        --expect "^smp: $n $cpus online" --expect "^$SMP_TESTS passed, 0 failed" --reject 'FAIL|PANIC|skipped' \
        -- -smp $n -accel tcg,thread=multi
done

smp_bochs() {
    export BOCHS_CPUS=2
    bochs_case smp-bochs-2 smptest --expect '^smp: 2 CPUs online' --expect "^$SMP_TESTS passed, 0 failed" \
        --reject 'FAIL|PANIC|skipped'
}
job smp_bochs
# x2APIC: QEMU 7.2's TCG has none, Bochs's Haswell model has one.
smp_bochs_x2apic() {
    export BOCHS_CPUS=2 BOCHS_CPU_MODEL=corei7_haswell_4770
    bochs_case smp-bochs-x2apic smptest --expect '^smp: x2APIC, timer' \
        --expect '^smp: 2 CPUs online' --expect "^$SMP_TESTS passed, 0 failed" --reject 'FAIL|PANIC|skipped'
}
job smp_bochs_x2apic

# The heap's storms at level 0, a normal boot's, where the CPUs' fronts
# for big blocks are in play (test boots harden, which turns them off).
iso smp-heap0 "test=smp_kmalloc heap_harden=0"
qemu_case smp-heap-level0-4 smp-heap0 33 --timeout 300 --expect '^smp: 4 CPUs online' \
    --expect 'PASS smp_kmalloc_big_blocks_cross_cpu' --expect '^[0-9]+ passed, 0 failed' \
    --reject 'FAIL|PANIC|skipped' -- -smp 4 -accel tcg,thread=multi
smp_bochs_heap0() {
    export BOCHS_CPUS=2
    bochs_case smp-heap-level0-bochs-2 smp-heap0 --expect '^smp: 2 CPUs online' \
        --expect 'PASS smp_kmalloc_big_blocks_cross_cpu' --expect '^[0-9]+ passed, 0 failed' \
        --reject 'FAIL|PANIC|skipped'
}
job smp_bochs_heap0

# No ACPI tables at all: one line says why, and the kernel runs on one CPU.
qemu_case smp-no-acpi smptest 33 --expect '^smp: the boot information has no RSDP: running on one CPU$' \
    --expect '^smp: 1 CPU online' --expect "^$SMP_TESTS passed, 0 failed" -- -smp 2 -machine acpi=off

# The whole self-test, with the other CPUs idling beside it.
iso selftest "test"
for n in 2 4; do
    qemu_case "selftest-smp-$n" selftest 33 --timeout 180 --expect "^smp: $n CPUs online" \
        --expect '^[0-9]+ passed, 0 failed' -- -smp $n -accel tcg,thread=multi
done
selftest_bochs_smp() {
    export BOCHS_CPUS=2
    bochs_case selftest-bochs-smp-2 selftest --expect '^smp: 2 CPUs online' \
        --expect '^[0-9]+ passed, 0 failed'
}
job selftest_bochs_smp

# A panic on the boot CPU or on an AP, and an exception on an AP: the other
# CPUs are stopped by NMI and the report names the CPU.
iso smp-crash-panic "crash=panic"
qemu_case smp-panic-bsp smp-crash-panic 35 \
    --expect '^\*\*\* CPU 0 \(APIC id 0\) stops the machine; 3 other CPUs stopped by NMI$' \
    --expect 'PANIC at src/kern/main.c:[0-9]+: crash test' -- -smp 4 -accel tcg,thread=multi
iso smp-crash-ap "crash=ap"
qemu_case smp-panic-ap smp-crash-ap 35 \
    --expect '^\*\*\* CPU 3 \(APIC id 3\) stops the machine; 3 other CPUs stopped by NMI$' \
    --expect 'PANIC at arch/x86_64/smp.c:[0-9]+: crash test .* on CPU 3' \
    -- -smp 4 -accel tcg,thread=multi
iso smp-crash-ap-ud "crash=ap-ud"
qemu_case smp-ud-ap smp-crash-ap-ud 35 \
    --expect '^\*\*\* CPU 1 \(APIC id 1\) stops the machine; 1 other CPU stopped by NMI$' \
    --expect '^\*\*\* fatal: #UD invalid opcode' -- -smp 2
# The same while the boot CPU has a recovery point armed, as each in-kernel
# test does: the point is the boot CPU's, and the AP's fault stays fatal.
iso smp-crash-ap-ud-armed "crash=ap-ud-armed"
qemu_case smp-ud-ap-armed smp-crash-ap-ud-armed 35 \
    --expect '^\*\*\* CPU 1 \(APIC id 1\) stops the machine; 1 other CPU stopped by NMI$' \
    --expect '^\*\*\* fatal: #UD invalid opcode' --reject 'came back to the boot CPU' -- -smp 2
# A kernel stack overflow on an AP: its guard page, its own #DF IST stack.
iso smp-crash-ap-stack "crash=ap-stack"
qemu_case smp-stack-ap smp-crash-ap-stack 35 \
    --expect "^\*\*\* kernel stack overflow: CPU 1's kernel stack hit its guard page" \
    --expect '^\*\*\* #DF double fault' -- -smp 2
# A hang under the stall watchdog (what every in-kernel test runs under):
# the report names the stalled work, and the other CPU says where it was.
iso smp-crash-stall "crash=stall"
STALL_PANIC=(--expect 'PANIC at src/kern/watchdog.c:[0-9]+: watchdog: crash=stall has run for more than 2 s'
    --reject 'came back to a recovery point')
STALL_EXPECT=(--expect '^\*\*\* CPU [01] \(APIC id [01]\) stopped at ffffffff8[0-9a-f]+ <(smp_idle|stall_forever|crash)\+0x'
    --expect '^\*\*\* CPU [01] \(APIC id [01]\) stops the machine; 1 other CPU stopped by NMI$'
    "${STALL_PANIC[@]}")
qemu_case smp-stall-watchdog smp-crash-stall 35 "${STALL_EXPECT[@]}" -- -smp 2
# One CPU: its own tick reports, inside the recovery point the stall armed.
qemu_case smp-stall-watchdog-1cpu smp-crash-stall 35 "${STALL_PANIC[@]}"
smp_bochs_stall() {
    export BOCHS_CPUS=2
    bochs_case smp-stall-watchdog-bochs smp-crash-stall "${STALL_EXPECT[@]}"
}
job smp_bochs_stall

# A CPU that never answers a TLB shootdown: the sender's timeout names it.
iso smp-crash-deaf "crash=ap-deaf"
qemu_case smp-tlb-timeout smp-crash-deaf 35 \
    --expect 'PANIC at arch/x86_64/tlb.c:[0-9]+: tlb_shootdown: CPU 3 did not acknowledge CPU 0.s TLB shootdown in 10000 ms' \
    --expect '^\*\*\* CPU 0 \(APIC id 0\) stops the machine; 3 other CPUs stopped by NMI$' \
    --expect '^\*\*\* CPU 3 \(APIC id 3\) stopped at ffffffff8[0-9a-f]+ <crash_here\+0x' \
    -- -smp 4 -accel tcg,thread=multi
# One CPU: the same report, and nobody to stop.
qemu_case smp-panic-1cpu smp-crash-ap 35 \
    --expect '^\*\*\* CPU 0 \(APIC id 0\) stops the machine$' --expect 'PANIC at .*on CPU 0'

# The monitor's `cpus`.
iso smp-monitor ""
monitor_case smp-monitor-cpus smp-monitor tests/boot/monitor/cpus.txt -smp 4 -accel tcg,thread=multi

# UEFI (OVMF on q35): the RSDP comes from the ACPI 2.0 tag, the MADT through the XSDT.
OVMF=${OVMF:-/usr/share/ovmf/OVMF.fd}
if [ -f "$OVMF" ]; then
    qemu_case smp-uefi-4 smptest 33 --timeout 300 --expect '^smp: MADT at 0x[0-9a-f]+ \(via XSDT\): 4 CPUs' \
        --expect '^smp: 4 CPUs online' --expect "^$SMP_TESTS passed, 0 failed" --reject 'FAIL|PANIC|skipped' \
        -- -machine q35 -bios "$OVMF" -smp 4 -accel tcg,thread=multi
else
    record FAIL smp-uefi-firmware "$OVMF is missing: install ovmf (apt-get install ovmf)"
fi
