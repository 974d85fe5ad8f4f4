#!/usr/bin/env bash
# usb.sh ISO DEV: write the hybrid ISO to a USB stick, for a legacy-BIOS PC.
# Refuses anything but a removable, unmounted, whole-disk block device, and
# asks for confirmation (set PAGODA_USB_YES=1 to skip the question).
# Tests point SYSFS at a fake tree to exercise the checks.
set -euo pipefail
iso=$1 dev=${2:-}
sysfs=${SYSFS:-/sys}
die() { echo "make usb: $*" >&2; exit 1; }

[ -n "$dev" ] || die "name the stick: make usb DEV=/dev/sdX"
[ -f "$iso" ] || die "no ISO at $iso (run make iso)"
[ -e "$dev" ] || die "$dev does not exist"
[ -b "$dev" ] || die "$dev is not a block device"
name=$(basename "$(readlink -f "$dev")")
[ -d "$sysfs/block/$name" ] || die "$dev is a partition or not a whole disk (no $sysfs/block/$name)"
[ "$(cat "$sysfs/block/$name/removable" 2>/dev/null || echo 0)" = 1 ] ||
    die "$dev is not a removable device; refusing to overwrite it"
if grep -q "^/dev/$name" /proc/mounts; then
    die "$dev (or one of its partitions) is mounted; unmount it first"
fi
size=$(($(cat "$sysfs/block/$name/size") * 512 / 1024 / 1024))
model=$(cat "$sysfs/block/$name/device/model" 2>/dev/null || echo unknown)
echo "About to overwrite $dev ($model, $size MiB) with $iso. All data on it will be lost."
if [ "${PAGODA_USB_YES:-}" != 1 ]; then
    read -r -p "Type yes to continue: " answer
    [ "$answer" = yes ] || die "cancelled"
fi
dd if="$iso" of="$dev" bs=4M conv=fsync status=progress
sync
echo "Done: boot the stick on a legacy-BIOS PC (COM1 at 115200 8N1 shows the log too)."
