#!/usr/bin/env bash
# mkiso.sh OUT.iso GRUB.CFG KERNEL.elf [MODULE...]
# Stage iso/ plus the kernel, the modules and the given grub.cfg into a
# private tree and build one hybrid ISO: El Torito BIOS and UEFI images, and
# an MBR/GPT with an EFI system partition, so the same file boots as a CD, a
# hard disk or a USB stick on legacy BIOS and on UEFI.
#
# grub-mkrescue silently leaves out a platform whose files are missing: with
# no grub-pc-bin the ISO does not boot on a BIOS PC ("Could not read from
# CDROM (code 0009)"), with no grub-efi-amd64-bin not on UEFI. So both
# platform directories are checked first and both boot images afterwards.
#
# A cfg that does not choose a video mode itself (no "gfxpayload" in it)
# gets the default of the top-level grub.cfg: the video drivers for the
# kernel's optional framebuffer request, and VGA text on BIOS, set after
# each `multiboot2` line (that command sets gfxpayload from the request).
set -euo pipefail
out=$1 cfg=$2 kernel=$3
shift 3

# MKISO_GRUB_LIB moves only this check (the tests play a machine without
# one platform); grub-mkrescue always reads /usr/lib/grub.
lib=${MKISO_GRUB_LIB:-/usr/lib/grub}
declare -A pkg_of=([i386-pc]=grub-pc-bin [x86_64-efi]=grub-efi-amd64-bin)
declare -A firmware_of=([i386-pc]=BIOS [x86_64-efi]=UEFI)
for p in i386-pc x86_64-efi; do
    if [ ! -d "$lib/$p" ]; then
        echo "mkiso: $lib/$p is missing: install ${pkg_of[$p]} (apt-get install ${pkg_of[$p]});" \
            "without it the ISO would not boot on ${firmware_of[$p]}" >&2
        exit 1
    fi
done
if ! command -v mformat > /dev/null; then
    echo "mkiso: mformat is missing: install mtools (grub-mkrescue needs it for the EFI image)" >&2
    exit 1
fi

stage="${out%.iso}.stage"
rm -rf "$stage"
mkdir -p "$stage"
cp -r iso/. "$stage/"
mkdir -p "$stage/boot/grub"
cp "$kernel" "$stage/boot/pagoda.elf"
if grep -q gfxpayload "$cfg"; then
    cp "$cfg" "$stage/boot/grub/grub.cfg"
else
    {
        echo '# Video defaults added by tests/tools/mkiso.sh (this cfg picks no mode).'
        echo 'insmod all_video'
        sed 's/^\([[:space:]]*\)multiboot2 .*/&\n\1if [ "$grub_platform" = "pc" ]; then set gfxpayload=text; fi/' "$cfg"
    } > "$stage/boot/grub/grub.cfg"
fi
for m in "$@"; do cp "$m" "$stage/boot/"; done

# No -d: grub-mkrescue takes every platform under /usr/lib/grub (checked
# above). No locales or themes: a smaller image, and nothing uses them.
grub-mkrescue --locales= --themes= -o "$out" "$stage" >"$out.log" 2>&1 || {
    cat "$out.log" >&2
    exit 1
}
report=$(xorriso -indev "$out" -report_el_torito plain 2>/dev/null || true)
for want in BIOS UEFI; do
    if ! grep -q "El Torito boot img.*$want" <<< "$report"; then
        echo "mkiso: $out has no $want El Torito boot image; refusing it (grub-mkrescue output: $out.log)" >&2
        rm -f "$out"
        exit 1
    fi
done
rm -rf "$stage"
