# The kernel monitor, driven over COM1 by tests/tools/monitor-drive.py: it
# waits for each `pagoda> ` prompt, types a line, checks the answer, and
# wants the session to end with `halt` leaving QEMU with status 33.

monitor_case() { # monitor_case NAME ISO SCRIPT [QEMU-ARGS...]
    local name=$1 isoname=$2 script=$3
    shift 3
    local log="$TEST_DIR/$name.log" why
    if why=$(python3 tests/tools/monitor-drive.py --timeout 120 --log "$log" "$script" -- \
        "$QEMU" -cdrom "$TEST_DIR/$isoname.iso" -m 256M -display none -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio "$@" 2>&1); then
        record PASS "$name"
    else
        record FAIL "$name" "$(head -3 <<< "$why" | tr '\n' ';') (log: $log)"
    fi
}

iso monitor ""
monitor_case monitor-session monitor tests/boot/monitor/session.txt
