#!/usr/bin/env bash
# run-qemu.sh [--gdb] ISO [QEMU-ARGS...]
# Boot the ISO in QEMU with COM1 on this terminal. A VGA window opens when a
# display exists ($DISPLAY or $WAYLAND_DISPLAY); otherwise QEMU runs headless.
# With --gdb, QEMU waits for gdb on :1234 (-s -S) and build/gdbinit is
# written: `gdb -x build/gdbinit` loads the symbols and connects.
set -euo pipefail
gdb=0
if [ "${1:-}" = --gdb ]; then gdb=1; shift; fi
iso=$1
shift
args=(-cdrom "$iso" -serial mon:stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04)
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    args+=(-display none)
fi
if [ $gdb = 1 ]; then
    cat > build/gdbinit <<GDB
file build/pagoda.elf
set architecture i386:x86-64
target remote localhost:1234
break kmain
GDB
    echo "QEMU waits for gdb: in another terminal run  gdb -x build/gdbinit  then 'continue'."
    args+=(-s -S)
fi
echo "Pagoda in QEMU: COM1 is this terminal. Quit with Ctrl-A X."
status=0
qemu-system-x86_64 "${args[@]}" "$@" || status=$?
# isa-debug-exit turns the kernel's success code into 33.
[ $status -eq 33 ] && status=0
exit $status
