# UEFI (OVMF on q35) from the same hybrid ISO, and the screens: the
# framebuffer console on UEFI and in the BIOS framebuffer entry, VGA text on
# BIOS, each read back by OCR of a QEMU screendump.
OVMF=${OVMF:-/usr/share/ovmf/OVMF.fd}
uefi=(-machine q35 -bios "$OVMF")
[ -f "$OVMF" ] || record FAIL uefi-firmware "$OVMF is missing: install ovmf (apt-get install ovmf)"

# The self-test ISO (built by 20-selftest too; `iso` caches it) on UEFI:
# from CD-ROM, as a hard disk, as a USB stick on xHCI, and with RAM above
# 4 GiB.
iso selftest "test"
uefi_expects=(--expect '^firmware: UEFI' --expect '^fbcon: [0-9]+x[0-9]+, (24|32) bpp.*mapped write-combining'
    --expect '^[0-9]+ passed, 0 failed' --reject '^mb2: ')
qemu_case uefi-selftest-cd selftest 33 --timeout 300 "${uefi_expects[@]}" -- "${uefi[@]}"
qemu_case uefi-selftest-disk selftest 33 --timeout 300 --boot disk "${uefi_expects[@]}" -- "${uefi[@]}"
qemu_case uefi-selftest-usb-xhci selftest 33 --timeout 300 --boot usb-xhci "${uefi_expects[@]}" -- "${uefi[@]}"
# q35 puts RAM from 2 GiB on above 4 GiB; the PMM must take it.
qemu_case uefi-selftest-6g selftest 33 --timeout 300 --mem 6G "${uefi_expects[@]}" \
    --expect '^memmap: base=0x00000001[0-9a-f]{8} length=0x0*1[0-9a-f]{8} type=usable' -- "${uefi[@]}"

# An ISO whose one entry asks for a BIOS framebuffer, as grub.cfg's
# "Pagoda (framebuffer)" entry does (gfxpayload after the multiboot2 line).
fb_iso() { # fb_iso NAME CMDLINE
    local name=$1 cmdline=$2 out="$TEST_DIR/$1.iso" cfg="$TEST_DIR/$1.cfg"
    if [ -f "$out" ] && [ "$out" -nt "$KERNEL" ]; then return 0; fi
    {
        echo 'serial --unit=0 --speed=115200'
        echo 'terminal_input serial console'
        echo 'terminal_output serial console'
        echo 'set timeout=0'
        echo 'insmod all_video'
        echo "menuentry \"Pagoda $name\" {"
        echo "    multiboot2 /boot/pagoda.elf $cmdline"
        echo '    set gfxpayload=1024x768x32,800x600x32,auto'
        echo '    boot'
        echo '}'
    } > "$cfg"
    bash tests/tools/mkiso.sh "$out" "$cfg" "$KERNEL"
}
fb_iso fb-selftest "test"
fb_iso fb-normal ""
iso normal ""

# The framebuffer console under the whole self-test on BIOS, and on a CPU
# without a PAT, where the framebuffer must be mapped uncached instead.
qemu_case fb-bios-selftest fb-selftest 33 --expect '^firmware: BIOS' \
    --expect '^fbcon: 1024x768, 32 bpp.*mapped write-combining' --expect '^[0-9]+ passed, 0 failed'
qemu_case fb-bios-no-pat fb-selftest 33 --expect '^fbcon: .*mapped uncached' \
    --expect '^[0-9]+ passed, 0 failed' -- -cpu qemu64,-pat
# VGA text on BIOS must stay VGA text: no framebuffer console.
qemu_case vga-bios-no-fbcon selftest 33 --expect '^firmware: BIOS' --reject '^fbcon:' \
    --expect '^[0-9]+ passed, 0 failed'

# Screen checks: after the prompt, the monitor's banner and the prompt must
# be on the screen, read by OCR (tests/tools/screen-check.py). Pictures go
# to build/test/NAME.png; tests/boot/screens/ keeps one of each for the
# README.
screen_case() { # screen_case NAME ISO [--keys K] [--expect RE]... -- QEMU-ARGS...
    local name=$1 isoname=$2
    shift 2
    local -a opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    shell_case "$name" python3 tests/tools/screen-check.py --png "$TEST_DIR/$name.png" --timeout 300 \
        --expect 'Pagoda is up\. This is its monitor' --expect '^pagoda> ' "${opts[@]}" -- \
        "$QEMU" -cdrom "$TEST_DIR/$isoname.iso" -m 256M -display none -no-reboot "$@"
}
screen_case screen-uefi normal -- "${uefi[@]}"
screen_case screen-bios-fb fb-normal --expect '^Pagoda .* booted by GRUB'
screen_case screen-bios-vga normal
# The PS/2 keyboard on UEFI, echoed on the framebuffer: type a command and
# read it back from the screen.
screen_case screen-uefi-keyboard normal --keys 'u p t i m e ret' \
    --expect '^pagoda> uptime' --expect 'ticks' -- "${uefi[@]}"

# The check can fail: the kept pictures do not show what is not on them,
# and a black screen shows nothing.
screen_check_fails() {
    local black="$TEST_DIR/black.pgm"
    python3 -c 'import sys; sys.stdout.buffer.write(b"P5 720 400 255\n" + bytes(720 * 400))' > "$black"
    python3 tests/tools/screen-check.py --image tests/boot/screens/uefi.png \
        --expect 'Pagoda is up\. This is its monitor' --expect '^pagoda> ' || return 1
    ! python3 tests/tools/screen-check.py --image tests/boot/screens/uefi.png --expect 'kernel panic' &&
        ! python3 tests/tools/screen-check.py --image tests/boot/screens/bios-vga.png \
            --expect 'fbcon: font' &&
        ! python3 tests/tools/screen-check.py --image "$black" --expect '^pagoda> '
}
shell_case screen-check-can-fail screen_check_fails

# The tools behind the one ISO and the font. mkiso.sh names the package of a
# missing GRUB platform and builds nothing; psf2c takes only PSF2 fonts and
# finds glyphs through the font's Unicode table.
mkiso_refuses() { # mkiso_refuses PLATFORM-PRESENT PACKAGE-NAMED
    local fake="$TEST_DIR/fake-grub-$1" out
    rm -rf "$fake" && mkdir -p "$fake/$1"
    out=$(MKISO_GRUB_LIB=$fake bash tests/tools/mkiso.sh "$TEST_DIR/refused.iso" grub.cfg "$KERNEL" 2>&1) &&
        return 1
    echo "$out"
    grep -q "install $2" <<< "$out" && [ ! -e "$TEST_DIR/refused.iso" ]
}
shell_case mkiso-refuses-without-efi mkiso_refuses i386-pc grub-efi-amd64-bin
shell_case mkiso-refuses-without-bios mkiso_refuses x86_64-efi grub-pc-bin
shell_case iso-has-bios-and-uefi bash -c "xorriso -indev build/pagoda.iso -report_el_torito plain 2>/dev/null |
    grep -q 'El Torito boot img.*BIOS' && xorriso -indev build/pagoda.iso -report_el_torito plain 2>/dev/null |
    grep -q 'El Torito boot img.*UEFI'"

font_checks() {
    local psf=/usr/share/consolefonts/Lat15-Terminus18x10.psf.gz out="$TEST_DIR/font-check"
    [ -x build/tools/psf2c ] || return 1
    # A PSF1 font and a truncated PSF2 font are refused, with the reason.
    if gzip -dc /usr/share/consolefonts/Lat15-Terminus16.psf.gz | build/tools/psf2c x > /dev/null 2> "$out.err"; then
        return 1
    fi
    grep -q 'no PSF2 magic' "$out.err" || return 1
    if gzip -dc "$psf" | head -c 2000 | build/tools/psf2c x > /dev/null 2> "$out.err"; then
        return 1
    fi
    grep -q 'past the end' "$out.err" || return 1
    # The table has all 256 code points; 'A' is Terminus's A, and the pound
    # sign (U+00A3) is the font's glyph 0x9c (the font is in CP437 order):
    # found through the Unicode table, not by index.
    gzip -dc "$psf" | build/tools/psf2c x > "$out.c" || return 1
    [ "$(grep -c '/\* 0x' "$out.c")" -eq 256 ] || return 1
    grep -q '/\* 0x41 \*/ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x41, 0x00' "$out.c" || return 1
    local want
    want=$(gzip -dc "$psf" | python3 -c 'import sys; d = sys.stdin.buffer.read()
print("".join("0x%02x, " % b for b in d[32 + 0x9c * 36:32 + 0x9d * 36]).rstrip())')
    grep -qF "/* 0xa3 */ $want" "$out.c"
}
shell_case font-psf2-checks font_checks
