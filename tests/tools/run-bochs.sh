#!/usr/bin/env bash
# run-bochs.sh ISO MODE [SERIAL-LOG]
#   MODE run:   boot the ISO with COM1 on this terminal (a TCP serial line
#               bridged by tests/tools/serial-bridge.py; Ctrl-] leaves). The
#               VGA screen is drawn by Bochs's `term` display into a pty we
#               do not show; BOCHS_SCREEN=1 draws it here instead, with COM1
#               going to build/bochs-serial.log
#   MODE debug: the same under Bochs's internal debugger, with
#               build/pagoda.sym loaded and magic breakpoints (xchg bx, bx) on
#   MODE auto:  headless for tests: COM1 to SERIAL-LOG, run to the end (the
#               kernel writes "Shutdown" to port 0x8900), killed with SIGINT
#               after $BOCHS_TIMEOUT seconds
# BOCHS_CPUS sets the number of CPUs (cpu: count=N; default 1), BOCHS_CPU_MODEL
# the CPU model (e.g. corei7_haswell_4770, which has x2APIC; default: Bochs's).
# BOCHS_COM1 replaces the com1 settings after "enabled=1, " (e.g.
# "mode=socket-server, dev=localhost:5555" for an interactive serial line).
# Debian's Bochs has no `nogui`; the `term` display runs headless with TERM set.
set -euo pipefail
iso=$1 mode=$2 log=${3:-build/bochs-serial.log}
dir=build/bochs
mkdir -p "$dir"
rc="$dir/bochsrc.$mode.$$"
cmds="$dir/cmds.$mode.$$"
trap 'rm -f "$rc" "$cmds"' EXIT

magic=0
[ "$mode" = debug ] && magic=1
cat > "$rc" <<RC
megs: ${BOCHS_MEGS:-128}
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
ata0-master: type=cdrom, path=$iso, status=inserted
boot: cdrom
com1: enabled=1, ${BOCHS_COM1:-mode=file, dev=$log}
display_library: term
log: $dir/bochs.$mode.$$.log
panic: action=fatal
error: action=report
info: action=ignore
cpu: count=${BOCHS_CPUS:-1},${BOCHS_CPU_MODEL:+ model=$BOCHS_CPU_MODEL,} reset_on_triple_fault=0
port_e9_hack: enabled=1
magic_break: enabled=$magic
debug_symbols: file=build/pagoda.sym
clock: sync=none
# No sound device: the default ALSA driver fills the terminal with errors on
# a machine without a sound card. Beeps go to the display, which drops them.
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
speaker: enabled=1, mode=gui
RC

export TERM=${TERM:-xterm}
[ "$TERM" = dumb ] && export TERM=xterm
case $mode in
debug)
    echo "Bochs debugger: 'c' continues, 'lb \"kmain\"' breaks at kmain, 's' steps,"
    echo "'r' shows registers, 'info tab' the page tables. Serial goes to $log."
    exec bochs -q -unlock -f "$rc"
    ;;
run)
    echo c > "$cmds"
    if [ "${BOCHS_SCREEN:-0}" = 1 ]; then
        echo "Bochs: the VGA screen is drawn here; serial output goes to $log."
        exec bochs -q -unlock -f "$rc" -rc "$cmds"
    fi
    port=${BOCHS_PORT:-$((20000 + $$ % 20000))}
    sed -i "s|^com1: .*|com1: enabled=1, mode=socket-server, dev=localhost:$port|" "$rc"
    echo "Bochs: COM1 is this terminal (Ctrl-] leaves and stops Bochs)."
    script -qfec "bochs -q -unlock -f '$rc' -rc '$cmds'" /dev/null < /dev/null > "$dir/screen.log" 2>&1 &
    bochs_pid=$!
    python3 tests/tools/serial-bridge.py localhost "$port" || true
    # Bochs ignores SIGTERM; SIGINT stops it.
    pkill -INT -P "$bochs_pid" 2> /dev/null || true
    kill -INT "$bochs_pid" 2> /dev/null || true
    wait "$bochs_pid" 2> /dev/null || true
    ;;
auto)
    echo c > "$cmds"
    # Bochs ignores SIGTERM; SIGINT stops it. It wants a terminal for the
    # term display, so give it a throwaway one through script(1). What Bochs
    # draws and prints there is kept in SERIAL-LOG.screen.
    # A run that never reaches the shutdown port is said so on stderr, so
    # that a test reports a hang as a hang.
    status=0
    timeout -s INT -k 10 "${BOCHS_TIMEOUT:-300}" \
        script -qfec "bochs -q -unlock -f '$rc' -rc '$cmds'" /dev/null < /dev/null > "$log.screen" 2>&1 ||
        status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        echo "run-bochs.sh: Bochs was still running after ${BOCHS_TIMEOUT:-300} s and was stopped" >&2
    fi
    ;;
*)
    echo "run-bochs.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
