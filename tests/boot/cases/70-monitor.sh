# The kernel monitor, driven by tests/tools/monitor-drive.py: it waits for
# each `pagoda> ` prompt, types a line (on COM1, or on the PS/2 keyboard
# through QEMU's monitor socket), checks the answer, and wants the session to
# end with `halt` leaving QEMU with status 33.

monitor_case() { # monitor_case NAME ISO SCRIPT [QEMU-ARGS...]
    local name=$1 isoname=$2 script=$3
    shift 3
    local log="$TEST_DIR/$name.log" why hmp="$TEST_DIR/$name.hmp"
    # The first page of .text: mapped wherever the link put it.
    local text textpa
    text=$(nm "$KERNEL" | awk '$3 == "__text_start" { print $1 }')
    textpa=$(printf '0x%x' $((0x$text - 0xffffffff80000000)))
    rm -f "$hmp"
    if why=$(python3 tests/tools/monitor-drive.py --timeout 120 --log "$log" --hmp "$hmp" \
        --var "text=0x$text" --var "textpa=$textpa" "$script" -- "$QEMU" -cdrom "$TEST_DIR/$isoname.iso" -m 256M -display none \
        -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio \
        -monitor "unix:$hmp,server,nowait" "$@" 2>&1); then
        record PASS "$name"
    else
        record FAIL "$name" "$(head -3 <<< "$why" | tr '\n' ';') (log: $log)"
    fi
    rm -f "$hmp"
}

iso monitor ""
monitor_case monitor-serial monitor tests/boot/monitor/session.txt
monitor_case monitor-keyboard-vga monitor tests/boot/monitor/keyboard.txt
