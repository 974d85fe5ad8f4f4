# Helpers for the boot tests, sourced by tests/boot/run-all.sh and by the
# case files in tests/boot/cases/. Every case records one PASS or FAIL line;
# the runner prints the summary.
#
#   iso NAME "CMDLINE" [MODULE...]        build build/test/NAME.iso that boots
#                                         CMDLINE at once (kept while it is
#                                         newer than the kernel and modules)
#   qemu_case NAME ISO STATUS [options] [-- QEMU-ARGS...]
#       boot ISO (a name from `iso`) in QEMU; the case passes when QEMU exits
#       with STATUS and every --expect regex (grep -E) is in the serial log
#       and no --reject regex is. Options: --timeout S, --expect RE,
#       --reject RE, --boot cd|disk|usb-ehci|usb-xhci, --mem SIZE,
#       --input FILE (bytes sent to the serial line). STATUS 124 is a boot
#       that runs until stopped: it is stopped --settle S (default 3) seconds
#       after every --expect line has appeared, or at --timeout
#   bochs_case NAME ISO [options]  (--expect/--reject/--timeout/--rc FILE)
#       boot ISO in Bochs from CD-ROM; Bochs's status means nothing, so
#       the serial markers decide
#   monitor_case NAME ISO SCRIPT [QEMU-ARGS...]    (MONITOR_STATUS=N before it)
#   monitor_bochs_case NAME ISO SCRIPT
#       drive a monitor session (tests/tools/monitor-drive.py) in QEMU, or in
#       Bochs over a TCP COM1
#   shell_case NAME COMMAND...     passes when COMMAND exits 0
#   job FUNC [ARGS...]             run FUNC as one unit: the case calls inside
#                                  it run in order, after one another; a
#                                  unit may run beside other units, so a
#                                  check that reads a case's log goes into
#                                  the same FUNC as the case
#
# Units run in parallel, JOBS at a time (default: one per core). Each unit's
# output goes to a file of its own and is printed whole, in the order the
# case files queued the units, so parallel runs read like serial ones. Every
# case call at the top level of a case file is a unit of its own. Logs go to
# build/test/NAME.log, so case names must be unique; a case that needs a
# port or a scratch file derives it from its name or asks for a free one.

TEST_DIR=${TEST_DIR:-build/test}
KERNEL=${KERNEL:-build/pagoda.elf}
QEMU=${QEMU:-qemu-system-x86_64}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 1)}
case $JOBS in
'' | *[!0-9]* | 0 | 0*)
    echo "tests: JOBS=$JOBS: JOBS must be a whole number of 1 or more" >&2
    exit 2
    ;;
esac
UNIT_DIR=$TEST_DIR/units
mkdir -p "$TEST_DIR" "$UNIT_DIR"

declare -a RESULTS=()
CASES_PASSED=0
CASES_FAILED=0
CURRENT_GROUP=${CURRENT_GROUP:-boot}
CURRENT_HEADER=${CURRENT_HEADER:-}
IN_UNIT=0
UNIT_SEQ=0    # units queued so far
UNIT_NEXT=1   # the next unit to print
LAST_HEADER=

group() { CURRENT_GROUP=$1; }

unit_path() { printf '%s/%05d' "$UNIT_DIR" "$1"; }

record() { # record PASS|FAIL NAME [REASON]
    local verdict=$1 name=$2 reason=${3:-} line
    if [ "$verdict" = PASS ]; then line="PASS $name"; else line="FAIL $name: $reason"; fi
    if [ "$IN_UNIT" = 1 ]; then
        echo "$line"
        echo "$CURRENT_GROUP|$verdict" >> "$UNIT_RES"
        return
    fi
    # Outside a unit (a case file's own check): a unit that is already done.
    UNIT_SEQ=$((UNIT_SEQ + 1))
    local u
    u=$(unit_path $UNIT_SEQ)
    echo "$CURRENT_HEADER" > "$u.header"
    echo "$line" > "$u.out"
    echo "$CURRENT_GROUP|$verdict" > "$u.res"
    echo 0 > "$u.time"
    : > "$u.done"
    flush_units
}

# Print every finished unit whose turn it is, and count its results.
flush_units() {
    local u line
    while [ "$UNIT_NEXT" -le "$UNIT_SEQ" ]; do
        u=$(unit_path "$UNIT_NEXT")
        [ -e "$u.done" ] || break
        line=$(cat "$u.header")
        if [ "$line" != "$LAST_HEADER" ]; then
            echo "== $line"
            LAST_HEADER=$line
        fi
        cat "$u.out"
        while IFS= read -r line; do
            RESULTS+=("$line")
            if [ "${line#*|}" = PASS ]; then
                CASES_PASSED=$((CASES_PASSED + 1))
            else
                CASES_FAILED=$((CASES_FAILED + 1))
            fi
        done < "$u.res"
        UNIT_NEXT=$((UNIT_NEXT + 1))
    done
}

units_running() { # units started and not yet done
    local n=0 i
    for ((i = UNIT_NEXT; i <= UNIT_SEQ; i++)); do
        [ -e "$(unit_path $i).done" ] || n=$((n + 1))
    done
    echo $n
}

job() {
    if [ "$IN_UNIT" = 1 ]; then
        "$@"
        return
    fi
    while [ "$(units_running)" -ge "$JOBS" ]; do
        sleep 0.2
        flush_units
    done
    UNIT_SEQ=$((UNIT_SEQ + 1))
    local u
    u=$(unit_path $UNIT_SEQ)
    echo "$CURRENT_HEADER" > "$u.header"
    : > "$u.res"
    (
        IN_UNIT=1
        UNIT_RES=$u.res
        t0=$(date +%s%N)
        # However the unit ends (an unset variable under `set -u`, an exit
        # in a case file), it is marked done, and one that recorded nothing
        # is a failure rather than a silent gap.
        # shellcheck disable=SC2064 # expanded now: the trap runs after $u's scope
        trap "unit_finish $(printf '%q ' "$u" "$t0" "$*")" EXIT
        "$@" > "$u.out" 2>&1
    ) < /dev/null &
    flush_units
}

unit_finish() { # unit_finish UNIT T0 WHAT: the EXIT trap of a unit
    local u=$1 t1
    t1=$(date +%s%N)
    if [ ! -s "$u.res" ]; then
        echo "FAIL $3: ended without recording a result" >> "$u.out"
        echo "$CURRENT_GROUP|FAIL" >> "$u.res"
    fi
    echo $(((t1 - $2) / 1000000)) > "$u.time"
    : > "$u.done"
}

# Stop every unit still running, with what it started (QEMU, Bochs).
kill_units() {
    local p
    for p in $(jobs -p); do kill_tree "$p"; done
}
kill_tree() {
    local c
    for c in $(pgrep -P "$1"); do kill_tree "$c"; done
    kill "$1" 2> /dev/null
}

# Wait for every queued unit and print what is left.
wait_units() {
    while [ "$UNIT_NEXT" -le "$UNIT_SEQ" ]; do
        sleep 0.2
        flush_units
    done
    wait
}

# The milliseconds all units took, one after another.
units_serial_ms() {
    cat "$UNIT_DIR"/*.time 2> /dev/null | awk '{ s += $1 } END { print s + 0 }'
}

iso() { # iso NAME CMDLINE [MODULES...]
    local name=$1 cmdline=$2
    shift 2
    local out="$TEST_DIR/$name.iso" cfg="$TEST_DIR/$name.cfg"
    local m fresh=1
    [ -f "$out" ] && [ "$out" -nt "$KERNEL" ] || fresh=0
    for m in "$@"; do [ "$out" -nt "$m" ] || fresh=0; done
    [ $fresh = 1 ] && return 0
    {
        echo 'serial --unit=0 --speed=115200'
        echo 'terminal_input serial console'
        echo 'terminal_output serial console'
        echo 'set timeout=0'
        echo "menuentry \"Pagoda $name\" {"
        echo "    multiboot2 /boot/pagoda.elf $cmdline"
        for m in "$@"; do echo "    module2 /boot/$(basename "$m") $(basename "$m")"; done
        echo '    boot'
        echo '}'
    } > "$cfg"
    bash tests/tools/mkiso.sh "$out" "$cfg" "$KERNEL" "$@"
}

check_log() { # check_log LOG EXPECTS... -- REJECTS...; echoes the reason
    # GRUB and our console write CRLF; match on the text without the CRs.
    local log="$1.clean"
    tr -d '\r' < "$1" > "$log"
    shift
    local mode=expect re
    for re in "$@"; do
        if [ "$re" = -- ]; then mode=reject; continue; fi
        if [ $mode = expect ] && ! grep -Eq -- "$re" "$log"; then
            # Say what the run did instead: its first failed test, if any,
            # and where it stopped. CI shows this line and nothing else.
            local failed last
            failed=$(grep -Em1 -- '^FAIL |PANIC|^\*\*\* ' "$log" || true)
            last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 || true)
            echo "missing /$re/${failed:+; first failure: $failed}; last line: ${last:-(empty log)}"
            return 1
        fi
        if [ $mode = reject ] && grep -Eq -- "$re" "$log"; then
            echo "unexpected /$re/: $(grep -Em1 -- "$re" "$log" | tr -d '\r')"
            return 1
        fi
    done
}

# Record NAME as passed when LOG has every expected line and no rejected one
# (reads the caller's `expects` and `rejects` arrays).
judge_log() {
    local name=$1 log=$2 why
    if ! why=$(check_log "$log" "${expects[@]}" -- "${rejects[@]}"); then
        record FAIL "$name" "$why (log: $log)"
        return
    fi
    record PASS "$name"
}

qemu_case() { job run_qemu_case "$@"; }
run_qemu_case() {
    local name=$1 isoname=$2 want=$3
    shift 3
    local timeout=60 boot=cd mem=256M input="" settle=3
    local -a expects=() rejects=() extra=()
    while [ $# -gt 0 ]; do
        case $1 in
        --timeout) timeout=$2; shift 2 ;;
        --settle) settle=$2; shift 2 ;;
        --expect) expects+=("$2"); shift 2 ;;
        --reject) rejects+=("$2"); shift 2 ;;
        --boot) boot=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --input) input=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "qemu_case: unknown option $1" >&2; return 2 ;;
        esac
    done
    local image="$TEST_DIR/$isoname.iso" log="$TEST_DIR/$name.log"
    local -a drive
    case $boot in
    cd) drive=(-cdrom "$image") ;;
    disk) drive=(-drive "file=$image,format=raw,if=ide,index=0,snapshot=on" -boot c) ;;
    usb-ehci) drive=(-drive "if=none,id=stick,format=raw,file=$image,snapshot=on"
        -device usb-ehci,id=ehci -device usb-storage,bus=ehci.0,drive=stick,bootindex=0) ;;
    usb-xhci) drive=(-drive "if=none,id=stick,format=raw,file=$image,snapshot=on"
        -device qemu-xhci,id=xhci -device usb-storage,bus=xhci.0,drive=stick,bootindex=0) ;;
    esac
    # With --input, COM1 is stdio fed from the file and QEMU's own messages
    # land in the log; otherwise COM1 goes straight to the log.
    local serial="file:$log" in=/dev/null out="$log.qemu"
    [ -n "$input" ] && serial=stdio in=$input out=$log
    local status=0
    local -a run=(timeout -k 5 "$timeout" "$QEMU" "${drive[@]}" -m "$mem" -display none
        -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial "$serial" "${extra[@]}")
    if [ "$want" = 124 ]; then
        # A boot that runs until stopped: stop it $settle s after every
        # expected line is in, so a loaded machine gets the whole --timeout
        # to boot and a quiet one does not wait for it.
        "${run[@]}" < "$in" > "$out" 2>&1 &
        local qpid=$! seen="" stopped=0
        while kill -0 "$qpid" 2> /dev/null; do
            sleep 0.5
            if [ -z "$seen" ] && check_log "$log" "${expects[@]}" > /dev/null; then
                seen=$SECONDS
            fi
            if [ -n "$seen" ] && [ $((SECONDS - seen)) -ge "$settle" ]; then
                stopped=1
                kill -TERM "$qpid" 2> /dev/null
                break
            fi
        done
        wait "$qpid" || status=$?
        [ "$stopped" = 1 ] && status=124
    else
        "${run[@]}" < "$in" > "$out" 2>&1 || status=$?
    fi
    if [ "$status" != "$want" ] && { [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; }; then
        record FAIL "$name" "timed out after ${timeout}s (log: $log)"
        return
    fi
    if [ "$status" != "$want" ]; then
        record FAIL "$name" "QEMU exited with $status, wanted $want (log: $log)"
        return
    fi
    judge_log "$name" "$log"
}

bochs_case() { job run_bochs_case "$@"; }
run_bochs_case() {
    local name=$1 isoname=$2
    shift 2
    local timeout=600 # a loaded host runs Bochs several times slower; a hang is still caught
    local -a expects=() rejects=()
    while [ $# -gt 0 ]; do
        case $1 in
        --timeout) timeout=$2; shift 2 ;;
        --expect) expects+=("$2"); shift 2 ;;
        --reject) rejects+=("$2"); shift 2 ;;
        *) echo "bochs_case: unknown option $1" >&2; return 2 ;;
        esac
    done
    local log="$TEST_DIR/$name.log"
    rm -f "$log"
    BOCHS_TIMEOUT=$timeout bash tests/tools/run-bochs.sh "$TEST_DIR/$isoname.iso" auto "$log" \
        > "$log.bochs" 2>&1
    if [ ! -s "$log" ]; then
        record FAIL "$name" "no serial output from Bochs (see $log.bochs)"
        return
    fi
    if grep -q 'was still running after' "$log.bochs"; then
        local last
        last=$(tr -d '\r' < "$log" | grep -v '^[[:space:]]*$' | tail -n 1)
        record FAIL "$name" "timed out after $timeout s; last line: $last (log: $log)"
        return
    fi
    judge_log "$name" "$log"
}

shell_case() { job run_shell_case "$@"; }
run_shell_case() {
    local name=$1
    shift
    local log="$TEST_DIR/$name.log"
    if "$@" > "$log" 2>&1; then
        record PASS "$name"
    else
        record FAIL "$name" "command failed: $* (log: $log)"
    fi
}

# The monitor sessions' variables: ${text} and ${textpa}, the first page of
# .text wherever the link put it and its frame; and the kernel objects the
# hostile session aims at, by symbol: ${idt} and ${idtpa} (its frame), and so on.
monitor_vars() {
    local sym va
    va=0x$(nm "$KERNEL" | awk '$3 == "__text_start" { print $1 }')
    echo --var "text=$va" --var "textpa=$(printf '0x%x' $((va - 0xffffffff80000000)))"
    for sym in idt gdt tss handlers temp_pd temp_pt; do
        va=0x$(nm "$KERNEL" | awk -v s="$sym" '$3 == s { print $1; exit }')
        echo --var "$sym=$va" --var "${sym}pa=$(printf '0x%x' $(((va - 0xffffffff80000000) & ~0xfff)))"
    done
}

monitor_record() { # monitor_record NAME LOG STATUS OUTPUT
    if [ "$3" -eq 0 ]; then
        record PASS "$1"
    else
        record FAIL "$1" "$(head -3 <<< "$4" | tr '\n' ';') (log: $2)"
    fi
}

monitor_case() { job run_monitor_case "$@"; }
run_monitor_case() { # [MONITOR_STATUS=N] monitor_case NAME ISO SCRIPT [QEMU-ARGS...]
    local name=$1 isoname=$2 script=$3
    shift 3
    local log="$TEST_DIR/$name.log" hmp="$TEST_DIR/$name.hmp" why status
    rm -f "$hmp"
    # shellcheck disable=SC2046 # monitor_vars gives whole words
    why=$(python3 tests/tools/monitor-drive.py --timeout 120 --log "$log" --hmp "$hmp" \
        --status "${MONITOR_STATUS:-33}" $(monitor_vars) "$script" -- \
        "$QEMU" -cdrom "$TEST_DIR/$isoname.iso" -m 256M -display none -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio \
        -monitor "unix:$hmp,server,nowait" "$@" 2>&1)
    status=$?
    rm -f "$hmp"
    monitor_record "$name" "$log" "$status" "$why"
}

monitor_bochs_case() { job run_monitor_bochs_case "$@"; }
run_monitor_bochs_case() { # monitor_bochs_case NAME ISO SCRIPT: COM1 as a TCP server
    local name=$1 isoname=$2 script=$3
    local log="$TEST_DIR/$name.log" port why status
    # A port nobody holds now, so that parallel sessions never share one.
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # shellcheck disable=SC2046
    why=$(BOCHS_TIMEOUT=200 BOCHS_COM1="mode=socket-server, dev=localhost:$port" \
        python3 tests/tools/monitor-drive.py --timeout 220 --status 0 --tcp "localhost:$port" \
        --log "$log" $(monitor_vars) "$script" -- \
        bash tests/tools/run-bochs.sh "$TEST_DIR/$isoname.iso" auto "$log.unused" 2>&1)
    status=$?
    monitor_record "$name" "$log" "$status" "$why"
}
