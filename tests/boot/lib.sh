# Helpers for the boot tests, sourced by tests/boot/run-all.sh and by the
# case files in tests/boot/cases/. Every case records one PASS or FAIL line;
# the runner prints the summary.
#
#   iso NAME "CMDLINE" [MODULE...]        build build/test/NAME.iso (cached
#                                         per run) that boots CMDLINE at once
#   qemu_case NAME ISO STATUS [options] [-- QEMU-ARGS...]
#       boot ISO (a name from `iso`) in QEMU; the case passes when QEMU exits
#       with STATUS and every --expect regex (grep -E) is in the serial log
#       and no --reject regex is. Options: --timeout S, --expect RE,
#       --reject RE, --boot cd|disk|usb-ehci|usb-xhci, --mem SIZE,
#       --input FILE (bytes sent to the serial line)
#   bochs_case NAME ISO [options]  (--expect/--reject/--timeout/--rc FILE)
#       boot ISO in Bochs from CD-ROM; Bochs's status means nothing, so
#       the serial markers decide
#   shell_case NAME COMMAND...     passes when COMMAND exits 0
#   job FUNC [ARGS...]             run FUNC as one unit: the case calls inside
#                                  it run in order, after one another; a
#                                  unit may run beside other units, so a
#                                  check that reads a case's log goes into
#                                  the same FUNC as the case
#
# Logs go to build/test/NAME.log.

TEST_DIR=${TEST_DIR:-build/test}
KERNEL=${KERNEL:-build/pagoda.elf}
QEMU=${QEMU:-qemu-system-x86_64}
mkdir -p "$TEST_DIR"

declare -a RESULTS=()
CASES_PASSED=0
CASES_FAILED=0
CURRENT_GROUP=${CURRENT_GROUP:-boot}

group() { CURRENT_GROUP=$1; }

job() { "$@"; }

record() { # record PASS|FAIL NAME [REASON]
    local verdict=$1 name=$2 reason=${3:-}
    if [ "$verdict" = PASS ]; then
        CASES_PASSED=$((CASES_PASSED + 1))
        echo "PASS $name"
    else
        CASES_FAILED=$((CASES_FAILED + 1))
        echo "FAIL $name: $reason"
    fi
    RESULTS+=("$CURRENT_GROUP|$verdict")
}

iso() { # iso NAME CMDLINE [MODULES...]
    local name=$1 cmdline=$2
    shift 2
    local out="$TEST_DIR/$name.iso" cfg="$TEST_DIR/$name.cfg"
    if [ -f "$out" ] && [ "$out" -nt "$KERNEL" ]; then return 0; fi
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
            echo "missing /$re/"
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

qemu_case() {
    local name=$1 isoname=$2 want=$3
    shift 3
    local timeout=60 boot=cd mem=256M input=""
    local -a expects=() rejects=() extra=()
    while [ $# -gt 0 ]; do
        case $1 in
        --timeout) timeout=$2; shift 2 ;;
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
    timeout -k 5 "$timeout" "$QEMU" "${drive[@]}" -m "$mem" -display none -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial "$serial" "${extra[@]}" \
        < "$in" > "$out" 2>&1 || status=$?
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

bochs_case() {
    local name=$1 isoname=$2
    shift 2
    local timeout=300
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
    judge_log "$name" "$log"
}

shell_case() {
    local name=$1
    shift
    local log="$TEST_DIR/$name.log"
    if "$@" > "$log" 2>&1; then
        record PASS "$name"
    else
        record FAIL "$name" "command failed: $* (log: $log)"
    fi
}
