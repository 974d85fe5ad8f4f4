# The boot-info adapter: the normalised memory map in the boot log,
# two modules whose crc32 lines must match the files' CRC-32 computed here,
# and the mb2_ in-kernel tests, under QEMU (pc, q35, RAM above 4 GiB) and Bochs.
# No "mb2:" problem line may appear: GRUB's info is well formed.
bootinfo_mod1=$TEST_DIR/mb2-mod1.bin
bootinfo_mod2=$TEST_DIR/mb2-mod2.bin
# Same bytes every run (seeded), so a cached ISO stays in step with the files.
python3 -c '
import random, sys
random.seed(3)
open(sys.argv[1], "wb").write(bytes(random.getrandbits(8) for _ in range(5000)))
open(sys.argv[2], "wb").write(bytes(random.getrandbits(8) for _ in range(70001)))
' "$bootinfo_mod1" "$bootinfo_mod2"

bootinfo_module_re() { # the module line a file must produce
    local size crc
    size=$(stat -c %s "$1")
    crc=$(python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$1")
    echo "module: base=0x[0-9a-f]+ size=$size crc32=0x$crc name=$(basename "$1")"
}
bootinfo_entry='memmap: base=0x[0-9a-f]{16} length=0x[0-9a-f]{16} type='
bootinfo_expect=(--expect "${bootinfo_entry}usable" --expect "${bootinfo_entry}kernel-and-modules"
    --expect "${bootinfo_entry}reserved" --expect 'memmap: total type=usable'
    --expect "$(bootinfo_module_re "$bootinfo_mod1")" --expect "$(bootinfo_module_re "$bootinfo_mod2")"
    --expect '^cmdline: test=mb2_' --expect '^bootloader: GRUB' --expect '^firmware: BIOS'
    --reject '^mb2: ' --reject 'FAIL')

iso bootinfo "test=mb2_" "$bootinfo_mod1" "$bootinfo_mod2"
qemu_case bootinfo-modules bootinfo 33 --mem 128M "${bootinfo_expect[@]}" \
    --expect '^5 passed, 0 failed'
qemu_case bootinfo-q35 bootinfo 33 "${bootinfo_expect[@]}" --expect '^5 passed, 0 failed' \
    -- -machine q35
qemu_case bootinfo-6g bootinfo 33 --mem 6G "${bootinfo_expect[@]}" \
    --expect "memmap: base=0x0000000100000000 length=0x[0-9a-f]{16} type=usable" \
    --expect '^5 passed, 0 failed'
bochs_case bootinfo-bochs bootinfo "${bootinfo_expect[@]}" \
    --expect "${bootinfo_entry}acpi-reclaimable" --expect '^5 passed, 0 failed'
