# The heap's always-on free checks in a normal boot (hardening level 0):
# fault=double-free and fault=invalid-free each end in the heap's report,
# naming the address, the block size and the class, then leave with 35.
iso heap-double-free "fault=double-free"
qemu_case heap-double-free heap-double-free 35 \
    --expect '^heap: at 0x[0-9a-f]+, .*hardening 0' \
    --expect 'fault=double-free: kfree\(0x[0-9a-f]+\) twice, a 64-byte block, hardening level 0' \
    --expect 'PANIC at src/mm/[a-z_]+\.c:[0-9]+: heap: double free at 0x[0-9a-f]+ \(a 64-byte block, class 3\)' \
    --expect '#[0-9]+ 0x[0-9a-f]+ demo_double_free\+0x' --reject 'returned$'
bochs_case heap-double-free-bochs heap-double-free \
    --expect 'fault=double-free: kfree\(0x[0-9a-f]+\) twice, a 64-byte block, hardening level 0' \
    --expect 'heap: double free at 0x[0-9a-f]+ \(a 64-byte block, class 3\)'

iso heap-invalid-free "fault=invalid-free"
qemu_case heap-invalid-free heap-invalid-free 35 \
    --expect 'fault=invalid-free: kfree\(0x[0-9a-f]+\), 16 bytes into a block at 0x[0-9a-f]+, hardening level 0' \
    --expect 'PANIC at src/mm/[a-z_]+\.c:[0-9]+: heap: kfree of a pointer the heap never returned at 0x[0-9a-f]+ \(inside a chunk of class 6, 112-byte blocks, but not at a block start\)' \
    --reject 'returned$'
bochs_case heap-invalid-free-bochs heap-invalid-free \
    --expect 'heap: kfree of a pointer the heap never returned at 0x[0-9a-f]+ \(inside a chunk of class 6, 112-byte blocks'

# The CPUs' fronts for big blocks, which only a normal boot's level 0 has:
# a repeating big pair reuses its block without the list, and a second
# free of a kept or reused block is still the heap's panic (recovered).
iso bigfront "test=bigfront_ heap_harden=0"
qemu_case bigfront-level0 bigfront 33 --expect '^bigfront: hardening 0$' \
    --expect 'PASS bigfront_pair_reuses_its_block' --expect 'PASS bigfront_double_free_panics' \
    --expect 'heap: double free \(of a list block\)' --expect '^2 passed, 0 failed' --reject 'FAIL'
bochs_case bigfront-level0-bochs bigfront --expect '^bigfront: hardening 0$' \
    --expect 'heap: double free \(of a list block\)' --expect '^2 passed, 0 failed' --reject 'FAIL'

# Span holes, which only level 0 makes: the free pages of sparse spans go
# back to the PMM and come back on reuse, and a second free of a block on
# one is the heap's panic (recovered), not a read of the page.
iso holes "test=holes_ heap_harden=0"
qemu_case holes-level0 holes 33 --expect 'PASS holes_give_frames_back' \
    --expect '^holes: [1-9][0-9]* KiB' --expect 'heap: double free at' \
    --expect '^1 passed, 0 failed' --reject 'FAIL'
bochs_case holes-level0-bochs holes --expect 'PASS holes_give_frames_back' \
    --expect '^holes: [1-9][0-9]* KiB' --expect 'heap: double free at' \
    --expect '^1 passed, 0 failed' --reject 'FAIL'

# slabinfo and heap at the prompt of a normal boot show every cache and
# class the kernel uses, the heap's internal ones included.
# (70-monitor.sh has the general helper; this file may run before it.)
heap_monitor_case() { # heap_monitor_case NAME ISO SCRIPT
    local log="$TEST_DIR/$1.log" why status
    why=$(python3 tests/tools/monitor-drive.py --timeout 120 --log "$log" --status 33 "$3" -- \
        "$QEMU" -cdrom "$TEST_DIR/$2.iso" -m 256M -display none -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio 2>&1)
    status=$?
    if [ "$status" -eq 0 ]; then
        record PASS "$1"
    else
        record FAIL "$1" "$(head -3 <<< "$why" | tr '\n' ';') (log: $log)"
    fi
}
iso heap-monitor ""
heap_monitor_case heap-monitor heap-monitor tests/boot/monitor/heap.txt
