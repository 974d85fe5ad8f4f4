# `make usb` must refuse a regular file, a non-removable disk and a mounted
# stick. The disk checks read sysfs; a fake sysfs tree plays each device.
fake=$TEST_DIR/fake-sysfs
touch "$TEST_DIR/not-a-device.img"
iso_for_usb=build/pagoda.iso
[ -f "$iso_for_usb" ] || make -s iso > /dev/null

refuses() { # refuses REGEX DEV [SYSFS]: usb.sh must fail with REGEX
    local re=$1 dev=$2 out
    out=$(SYSFS=${3:-/sys} PAGODA_USB_YES=1 bash tests/tools/usb.sh "$iso_for_usb" "$dev" 2>&1 < /dev/null) && return 1
    grep -Eq "$re" <<< "$out"
}
shell_case usb-refuses-regular-file refuses 'not a block device' "$TEST_DIR/not-a-device.img"
shell_case usb-refuses-missing-dev refuses 'name the stick' ""
# A real block device node of this machine (its root disk) played as a
# fixed disk: the fake sysfs says removable=0.
rootdev=$(lsblk -ndo PKNAME "$(findmnt -no SOURCE /)" 2>/dev/null || true)
[ -n "$rootdev" ] || rootdev=$(basename "$(findmnt -no SOURCE /)")
fake_disk() { # fake_disk DIR REMOVABLE: a sysfs tree in which the root disk is DIR
    rm -rf "$1" && mkdir -p "$1/block/$rootdev"
    echo "$2" > "$1/block/$rootdev/removable"
    echo 2048 > "$1/block/$rootdev/size"
}
if [ -b "/dev/$rootdev" ]; then
    fake_disk "$fake-fixed" 0
    shell_case usb-refuses-fixed-disk refuses 'not a removable device' "/dev/$rootdev" "$fake-fixed"
    # The same disk played as removable, but it is mounted (it holds /).
    fake_disk "$fake-mounted" 1
    shell_case usb-refuses-mounted refuses 'mounted' "/dev/$rootdev" "$fake-mounted"
else
    record FAIL usb-refuses-fixed-disk "no block device found for / on this machine"
fi
