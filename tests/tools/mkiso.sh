#!/usr/bin/env bash
# mkiso.sh OUT.iso GRUB.CFG KERNEL.elf [MODULE...]
# Stage iso/ plus the kernel, the modules and the given grub.cfg into a
# private tree and build a hybrid (CD + disk + USB) BIOS ISO. Refuse to emit an
# ISO that has no BIOS El Torito image: that is what grub-mkrescue silently
# makes when grub-pc-bin is missing.
set -euo pipefail
out=$1 cfg=$2 kernel=$3
shift 3
stage="${out%.iso}.stage"
rm -rf "$stage"
mkdir -p "$stage"
cp -r iso/. "$stage/"
mkdir -p "$stage/boot/grub"
cp "$kernel" "$stage/boot/pagoda.elf"
cp "$cfg" "$stage/boot/grub/grub.cfg"
for m in "$@"; do cp "$m" "$stage/boot/"; done

if [ ! -d /usr/lib/grub/i386-pc ]; then
    echo "mkiso: /usr/lib/grub/i386-pc is missing: install grub-pc-bin (apt-get install grub-pc-bin)" >&2
    exit 1
fi
grub-mkrescue -d /usr/lib/grub/i386-pc -o "$out" "$stage" >"$out.log" 2>&1 || {
    cat "$out.log" >&2
    exit 1
}
if ! xorriso -indev "$out" -report_el_torito plain 2>/dev/null | grep -q 'El Torito boot img.*BIOS'; then
    echo "mkiso: $out has no BIOS boot image (grub-pc-bin missing?)" >&2
    rm -f "$out"
    exit 1
fi
rm -rf "$stage"
