# User mode: processes in their own address spaces. The user_ in-kernel
# tests (ELF rejects, pointer checks, zero page, copy-on-write, every
# program, preemption) in QEMU, in QEMU with SMEP/SMAP (-cpu max) and in
# Bochs; and monitor sessions that run each program and check ps, vmmap,
# walk and mem before and after.
user_modules=(build/user/hello build/user/demand build/user/cow build/user/crash-null
    build/user/crash-kernel build/user/crash-text build/user/crash-stack build/user/crash-exec
    build/user/hog build/user/spin build/user/sysfuzz)

# Three broken programs for the loader to refuse from real modules: a
# truncated ELF, a file that is not an ELF, and a segment made W+X.
user_bad=("$TEST_DIR/bad-trunc" "$TEST_DIR/bad-magic" "$TEST_DIR/bad-wx")
python3 - build/user/hello "$TEST_DIR" <<'PY'
import os, struct, sys
good = open(sys.argv[1], 'rb').read()
wx = bytearray(good)
phoff = struct.unpack_from('<Q', wx, 32)[0]
struct.pack_into('<I', wx, phoff + 4, 7)  # the first segment: r w x
for name, data in (('bad-trunc', good[:100]), ('bad-wx', bytes(wx)),
                   ('bad-magic', b'This is a text file, not a program. ' * 4)):
    path = os.path.join(sys.argv[2], name)
    if not os.path.exists(path) or open(path, 'rb').read() != data:
        open(path, 'wb').write(data)  # (rewritten only when changed: the ISO stays cached)
PY
user_modules+=("${user_bad[@]}")

# lib.sh's iso reuses an image newer than the kernel; ours must also be newer
# than every program on it.
for user_iso in user-tests user-monitor; do
    for m in "${user_modules[@]}"; do
        if [ -f "$TEST_DIR/$user_iso.iso" ] && [ "$m" -nt "$TEST_DIR/$user_iso.iso" ]; then
            rm -f "$TEST_DIR/$user_iso.iso"
        fi
    done
done

iso user-tests "test=user_" "${user_modules[@]}"
qemu_case user-ktests user-tests 33 --timeout 120 --expect '^PASS user_preemption' \
    --expect '^PASS user_crashes_kill_only_the_process' --expect '^hello from user space' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL' --reject 'skipped: no user program'
qemu_case user-ktests-smep-smap user-tests 33 --timeout 120 --expect 'ring 3 with SMEP SMAP' \
    --expect 'SMAP on: a plain kernel read of user memory faulted' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL' -- -cpu max
bochs_case user-ktests-bochs user-tests --expect '^PASS user_preemption' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL' --reject 'skipped: no user program'

# Like lib.sh's monitor_case and monitor_bochs_case, with room for a long
# session (every program, and the user_ tests once more) on a loaded machine.
user_session() { # user_session NAME ISO SCRIPT: the monitor over COM1 in QEMU
    local name=$1 isoname=$2 script=$3 log="$TEST_DIR/$1.log" why status
    why=$(python3 tests/tools/monitor-drive.py --timeout 240 --log "$log" --status 33 "$script" -- \
        "$QEMU" -cdrom "$TEST_DIR/$isoname.iso" -m 256M -display none -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio 2>&1)
    status=$?
    if [ "$status" -eq 0 ]; then record PASS "$name"; else
        record FAIL "$name" "$(head -3 <<< "$why" | tr '\n' ';') (log: $log)"; fi
}

user_session_bochs() { # the same in Bochs, COM1 as a TCP server
    local name=$1 isoname=$2 script=$3 log="$TEST_DIR/$1.log" why status
    local port # one nobody holds now, so that parallel sessions never share one
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    why=$(BOCHS_TIMEOUT=300 BOCHS_COM1="mode=socket-server, dev=localhost:$port" \
        python3 tests/tools/monitor-drive.py --timeout 320 --status 0 --tcp "localhost:$port" \
        --log "$log" "$script" -- \
        bash tests/tools/run-bochs.sh "$TEST_DIR/$isoname.iso" auto "$log.unused" 2>&1)
    status=$?
    if [ "$status" -eq 0 ]; then record PASS "$name"; else
        record FAIL "$name" "$(head -3 <<< "$why" | tr '\n' ';') (log: $log)"; fi
}

iso user-monitor "" "${user_modules[@]}"
job user_session user-monitor user-monitor tests/boot/monitor/user.txt
job user_session_bochs user-monitor-bochs user-monitor tests/boot/monitor/user-bochs.txt
