# The kernel monitor, driven by tests/tools/monitor-drive.py: it waits for
# each `pagoda> ` prompt, types a line (on COM1, or on the PS/2 keyboard
# through QEMU's monitor socket), checks the answer, and wants the session to
# end with `halt` leaving the emulator (QEMU status 33).

# The first page of .text, mapped wherever the link put it, and its frame.
monitor_text=0x$(nm "$KERNEL" | awk '$3 == "__text_start" { print $1 }')
monitor_textpa=$(printf '0x%x' $((monitor_text - 0xffffffff80000000)))

# Kernel objects the hostile session aims at, by symbol: ${idt} and
# ${idtpa} (its frame), and so on.
monitor_vars=(--var "text=$monitor_text" --var "textpa=$monitor_textpa")
for sym in idt gdt tss handlers temp_pd temp_pt; do
    va=0x$(nm "$KERNEL" | awk -v s="$sym" '$3 == s { print $1; exit }')
    monitor_vars+=(--var "$sym=$va" --var "${sym}pa=$(printf "0x%x" $(((va - 0xffffffff80000000) & ~0xfff)))")
done

monitor_record() { # monitor_record NAME LOG STATUS OUTPUT
    if [ "$3" -eq 0 ]; then
        record PASS "$1"
    else
        record FAIL "$1" "$(head -3 <<< "$4" | tr '\n' ';') (log: $2)"
    fi
}

monitor_case() { # [MONITOR_STATUS=N] monitor_case NAME ISO SCRIPT [QEMU-ARGS...]
    local name=$1 isoname=$2 script=$3
    shift 3
    local log="$TEST_DIR/$name.log" hmp="$TEST_DIR/$name.hmp" why status
    rm -f "$hmp"
    why=$(python3 tests/tools/monitor-drive.py --timeout 120 --log "$log" --hmp "$hmp" \
        --status "${MONITOR_STATUS:-33}" \
        "${monitor_vars[@]}" "$script" -- \
        "$QEMU" -cdrom "$TEST_DIR/$isoname.iso" -m 256M -display none -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio \
        -monitor "unix:$hmp,server,nowait" "$@" 2>&1)
    status=$?
    rm -f "$hmp"
    monitor_record "$name" "$log" "$status" "$why"
}

monitor_bochs_case() { # monitor_bochs_case NAME ISO SCRIPT: COM1 as a TCP server
    local name=$1 isoname=$2 script=$3
    local log="$TEST_DIR/$name.log" port=$((20000 + $$ % 20000)) why status
    why=$(BOCHS_TIMEOUT=200 BOCHS_COM1="mode=socket-server, dev=localhost:$port" \
        python3 tests/tools/monitor-drive.py --timeout 220 --status 0 --tcp "localhost:$port" \
        --log "$log" --var "text=$monitor_text" --var "textpa=$monitor_textpa" "$script" -- \
        bash tests/tools/run-bochs.sh "$TEST_DIR/$isoname.iso" auto "$log.unused" 2>&1)
    status=$?
    monitor_record "$name" "$log" "$status" "$why"
}

iso monitor ""
monitor_case monitor-serial monitor tests/boot/monitor/session.txt
monitor_case monitor-keyboard-vga monitor tests/boot/monitor/keyboard.txt
# reboot resets the machine: under -no-reboot QEMU leaves with status 0.
MONITOR_STATUS=0 monitor_case monitor-reboot monitor tests/boot/monitor/reboot.txt
monitor_bochs_case monitor-bochs monitor tests/boot/monitor/bochs.txt

# The pieces under the monitor, as in-kernel tests (also part of `test`).
iso monitor-ktests "test=mon_"
qemu_case monitor-ktests monitor-ktests 33 --expect '^PASS mon_keyboard' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL'
monitor_case monitor-hostile monitor tests/boot/monitor/hostile.txt
# A machine check injected through QEMU's monitor: the #MC report names the
# bank and decodes its status, then the kernel stops (QEMU is told to quit).
MONITOR_STATUS=0 monitor_case monitor-mce monitor tests/boot/monitor/mce.txt
