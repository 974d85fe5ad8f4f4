# The kernel monitor, driven by tests/tools/monitor-drive.py: it waits for
# each `pagoda> ` prompt, types a line (on COM1, or on the PS/2 keyboard
# through QEMU's monitor socket), checks the answer, and wants the session to
# end with `halt` leaving the emulator (QEMU status 33).
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
