#!/usr/bin/env bash
# deps.sh TARGET          check what a make target needs; install what is missing
# deps.sh --list TARGET   print the Debian packages TARGET needs, one a line
# deps.sh --missing TARGET print those of them that are not installed
#
# The table below is the only list of packages in the project: every make
# target, the test suite, CI and tests/tools/fresh-check.sh read it. When
# something is missing, deps.sh installs it with apt-get if we are root or
# have non-interactive sudo; otherwise it prints the exact apt-get line and
# stops. TARGET is a make target (all iso run run-uefi debug run-bochs
# bochs-debug host-test fuzz bench test) or `all-packages` (the whole table).
set -euo pipefail

# package                  found by (a command, or a file glob)           needed for
DEPS=(
    "make                    make                                           build"
    "gcc                     gcc                                            build"
    "binutils                ld                                             build"
    "nasm                    nasm                                           build"
    # The framebuffer console's font, converted into the kernel at build time.
    "console-setup-linux     /usr/share/consolefonts/Lat15-Terminus18x10.psf.gz build"
    "grub-common             grub-mkrescue                                  iso"
    # grub-mkrescue without the BIOS platform files silently makes an ISO
    # that does not boot on a PC ("Could not read from CDROM (code 0009)").
    "grub-pc-bin             /usr/lib/grub/i386-pc/cdboot.img               iso"
    # Likewise the UEFI platform files: without them the ISO has no EFI image.
    "grub-efi-amd64-bin      /usr/lib/grub/x86_64-efi/multiboot2.mod        iso"
    "xorriso                 xorriso                                        iso"
    "mtools                  mformat                                        iso"
    "qemu-system-x86         qemu-system-x86_64                             qemu"
    "ovmf                    /usr/share/ovmf/OVMF.fd                        uefi"
    # OCR for the screen checks (a QEMU screendump read back as text).
    "tesseract-ocr           tesseract                                      screen"
    "gdb                     gdb                                            gdb"
    "bochs                   bochs                                          bochs"
    "bochs-term              /usr/lib/*/bochs/plugins/libbx_term_gui.so     bochs"
    "bochsbios               /usr/share/bochs/BIOS-bochs-latest             bochs"
    "vgabios                 /usr/share/bochs/VGABIOS-lgpl-latest           bochs"
    # script(1) gives Bochs's term display a terminal in headless runs.
    "bsdutils                script                                         bochs"
    "python3                 python3                                        bochs tools"
    "clang                   clang                                          fuzz"
    "libclang-rt-14-dev      /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a fuzz"
    "valgrind                valgrind                                       bench"
    "libmimalloc-dev         /usr/include/mimalloc.h                        bench"
    "libjemalloc-dev         /usr/include/jemalloc/jemalloc.h               bench"
    "libgoogle-perftools-dev /usr/include/gperftools/tcmalloc.h             bench"
)

# What each make target runs, as the "needed for" words above.
needs_of() {
    case $1 in
    all) echo build ;;
    iso) echo build iso ;;
    run) echo build iso qemu ;;
    run-uefi) echo build iso qemu uefi ;;
    debug) echo build iso qemu gdb ;;
    run-bochs | bochs-debug) echo build iso bochs ;;
    host-test) echo build ;;
    fuzz) echo fuzz ;;
    # The benchmark also boots the kernel's own bench in QEMU.
    bench) echo build iso qemu bench tools ;;
    # The suite runs all of the above.
    test | all-packages) echo build iso qemu uefi screen gdb bochs tools fuzz bench ;;
    *) echo "deps.sh: unknown target '$1'" >&2; return 2 ;;
    esac
}

list=
case ${1:-} in --list | --missing) list=$1; shift ;; esac
target=${1:-run}
needs=" $(needs_of "$target") "

missing=() wanted=()
for row in "${DEPS[@]}"; do
    read -r pkg probe tags <<< "$row"
    needed=0
    for t in $tags; do [[ $needs == *" $t "* ]] && needed=1; done
    [ $needed = 1 ] || continue
    wanted+=("$pkg")
    if [[ $probe == /* ]]; then
        # Unquoted on purpose: some paths are globs over versions and triplets.
        compgen -G "$probe" > /dev/null || missing+=("$pkg")
    else
        command -v "$probe" > /dev/null 2>&1 || missing+=("$pkg")
    fi
done

case $list in
--list) printf '%s\n' "${wanted[@]}"; exit 0 ;;
--missing) [ ${#missing[@]} -eq 0 ] || printf '%s\n' "${missing[@]}"; exit 0 ;;
esac
[ ${#missing[@]} -eq 0 ] && exit 0
line="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $line
elif sudo -n true 2> /dev/null; then
    echo "deps: installing ${missing[*]} with sudo"
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo -n env DEBIAN_FRONTEND=noninteractive $line
else
    echo "deps: missing packages for 'make $target'. Install them with:" >&2
    echo "    sudo apt-get update && sudo $line" >&2
    exit 1
fi
