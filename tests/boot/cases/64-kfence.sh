# Sampled guard pages and freed-frame checking: the three demonstrations
# (fault=oob, fault=uaf, fault=frame-uaf) in QEMU and Bochs, the in-kernel
# tests of both, and the heap's own tests with sampling at a high rate.
iso kfence-oob "fault=oob"
qemu_case kfence-fault-oob kfence-oob 35 \
    --expect '^kfence: 64 guarded slots at 0x[0-9a-f]+, sampling about 1 in 4096 allocations' \
    --expect 'kfence: BUG: out-of-bounds write at 0x[0-9a-f]+ \(0 bytes right of the 32-byte object at 0x[0-9a-f]+\)' \
    --expect 'demo_oob\+0x' --expect '^  allocated by:' --expect 'kmalloc(_sampled)?\+0x' \
    --expect '\*\*\* fatal: #PF page fault' --reject 'should not get here' --reject 'panic while panicking'
bochs_case kfence-fault-oob-bochs kfence-oob \
    --expect 'kfence: BUG: out-of-bounds write at 0x[0-9a-f]+ \(0 bytes right of the 32-byte object' \
    --expect 'fatal: #PF page fault' --reject 'should not get here'

iso kfence-uaf "fault=uaf"
qemu_case kfence-fault-uaf kfence-uaf 35 \
    --expect 'kfence: BUG: use-after-free write at 0x[0-9a-f]+ \(8 bytes into the 48-byte object at 0x[0-9a-f]+\)' \
    --expect '^  allocated by:' --expect '^  freed by:' --expect 'demo_uaf\+0x' \
    --expect '\*\*\* fatal: #PF page fault' --reject 'should not get here' --reject 'panic while panicking'
bochs_case kfence-fault-uaf-bochs kfence-uaf \
    --expect 'kfence: BUG: use-after-free write at 0x[0-9a-f]+ \(8 bytes into the 48-byte object' \
    --expect '^  freed by:' --reject 'should not get here'

iso kfence-frame-uaf "fault=frame-uaf pmm_check=1"
qemu_case kfence-fault-frame-uaf kfence-frame-uaf 35 \
    --expect '^pmm_check: on: freed frames are filled' \
    --expect 'pmm_check: frame (0x[0-9a-f]+) was written after it was freed: 1 of 512 words changed, the first at offset 0x120' \
    --expect 'PANIC at .*: pmm: frame 0x[0-9a-f]+ written after it was freed' \
    --reject 'should not get here' --reject 'panic while panicking'
bochs_case kfence-fault-frame-uaf-bochs kfence-frame-uaf \
    --expect 'pmm_check: frame 0x[0-9a-f]+ was written after it was freed' \
    --reject 'should not get here'
iso kfence-frame-uaf-off "fault=frame-uaf"
qemu_case kfence-fault-frame-uaf-needs-check kfence-frame-uaf-off 35 \
    --expect 'fault=frame-uaf: needs pmm_check=1' --reject 'PANIC'
iso kfence-oob-off "fault=oob heap_sample=0"
qemu_case kfence-fault-oob-off kfence-oob-off 35 \
    --expect '^kfence: off \(heap_sample=0\)' --expect 'sampled guard pages are off' --reject 'PANIC'

# The in-kernel tests of both checks (pmm_check_ turns checking on itself).
iso kfence-tests "test=kfence_ heap_sample=7"
qemu_case kfence-tests kfence-tests 33 --expect '^PASS kfence_' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL '
bochs_case kfence-tests-bochs kfence-tests --expect '^PASS kfence_' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL '
iso kfence-pmm-check-tests "test=pmm_check_ pmm_check=1"
qemu_case kfence-pmm-check-tests kfence-pmm-check-tests 33 --expect '^PASS pmm_check_' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL ' --reject 'PANIC'
bochs_case kfence-pmm-check-tests-bochs kfence-pmm-check-tests --expect '^PASS pmm_check_' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL ' --reject 'PANIC'

# The heap's and slab's own tests with one allocation in about 7 sampled:
# they must pass unchanged, and the pool must have been used.
iso kfence-heap-sampled "test=heap_ heap_sample=7"
qemu_case kfence-heap-tests-sampled kfence-heap-sampled 33 \
    --expect '^kfence: 64 guarded slots at 0x[0-9a-f]+, sampling about 1 in 7 allocations' \
    --expect '^kfence: [0-9]+ live \([0-9]+ bytes\), [1-9][0-9]* sampled, [1-9][0-9]* freed' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL '
bochs_case kfence-heap-tests-sampled-bochs kfence-heap-sampled \
    --expect '^kfence: [0-9]+ live \([0-9]+ bytes\), [1-9][0-9]* sampled, [1-9][0-9]* freed' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL '
iso kfence-slab-pmm-checked "test=slab_ heap_sample=3 pmm_check=1"
qemu_case kfence-slab-tests-sampled-checked kfence-slab-pmm-checked 33 \
    --expect '^pmm_check: on' --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL '

# The same from the monitor's prompt: the pool in `heap`, a freed sampled
# block unreadable to `peek`, and each demonstration reported and survived.
kfence_monitor() {
    local name=$1 log="$TEST_DIR/$1.log" why status=0
    why=$(python3 tests/tools/monitor-drive.py --timeout 120 --log "$log" --status 33 \
        tests/boot/monitor/kfence.txt -- "$QEMU" -cdrom "$TEST_DIR/kfence-monitor.iso" -m 256M \
        -display none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        -serial stdio 2>&1) || status=$?
    if [ "$status" -eq 0 ]; then record PASS "$name"; else
        record FAIL "$name" "$(head -3 <<< "$why" | tr '\n' ';') (log: $log)"; fi
}
iso kfence-monitor "heap_sample=1 pmm_check=1"
job kfence_monitor kfence-monitor-session
