# The self-test ISO in every boot configuration the foundation promises.
iso selftest "test"
for cfg in cd disk usb-ehci usb-xhci; do
    qemu_case "selftest-$cfg" selftest 33 --boot "$cfg" \
        --expect '^Pagoda [0-9.]+ .*booted by GRUB' --expect '^[0-9]+ passed, 0 failed'
done
qemu_case selftest-no-nx selftest 33 --expect '^cpu: NX unavailable' --expect '^[0-9]+ passed, 0 failed' \
    -- -cpu qemu64,-nx
qemu_case selftest-q35 selftest 33 --expect '^[0-9]+ passed, 0 failed' -- -machine q35
# Bochs opens no sound device: on a machine without a sound card, ALSA would
# print a screenful of errors on the terminal of `make run-bochs`.
selftest_bochs() {
    bochs_case selftest-bochs selftest --expect '^Pagoda [0-9.]+' --expect '^[0-9]+ passed, 0 failed'
    local screen=$TEST_DIR/selftest-bochs.log.screen
    if [ ! -s "$screen" ]; then
        record FAIL bochs-opens-no-sound-device "no terminal output kept ($screen)"
    elif grep -aq 'ALSA lib' "$screen"; then
        record FAIL bochs-opens-no-sound-device "ALSA errors on the terminal: $(grep -am1 'ALSA lib' "$screen")"
    else
        record PASS bochs-opens-no-sound-device
    fi
}
job selftest_bochs

# A CPU without long mode gets the message and halts: no reboot loop, no
# triple fault (QEMU would exit 0 under -no-reboot). We let it sit for a few
# seconds after the message, then require that it was still running.
iso normal ""
qemu_case cpu-qemu32-refused normal 124 --timeout 60 \
    --expect 'Pagoda needs a 64-bit \(x86_64\) CPU' -- -cpu qemu32
