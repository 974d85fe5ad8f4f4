#!/usr/bin/env bash
# deps.sh run|test|bench: check the tools a target needs. When something is
# missing, install it with apt-get if we are root or have non-interactive
# sudo; otherwise print the exact apt-get line and stop.
set -euo pipefail
what=${1:-run}

declare -A pkg_of=(
    [nasm]=nasm [gcc]=gcc [ld]=binutils [make]=make [grub-mkrescue]=grub-common
    [xorriso]=xorriso [mformat]=mtools [qemu-system-x86_64]=qemu-system-x86
    [bochs]=bochs [script]=bsdutils [python3]=python3 [clang]=clang [valgrind]=valgrind
)
# Files a package provides that no command on the PATH reveals.
declare -A pkg_of_file=(
    # grub-mkrescue without the BIOS platform files silently makes an ISO that
    # does not boot on a PC ("Could not read from CDROM (code 0009)").
    [/usr/lib/grub/i386-pc/cdboot.img]=grub-pc-bin
)
tools=(nasm gcc ld grub-mkrescue xorriso mformat qemu-system-x86_64)
case $what in
test)
    tools+=(bochs clang python3 script)
    # Bochs needs its BIOS images; clang needs libFuzzer's runtime.
    pkg_of_file+=([/usr/share/bochs/BIOS-bochs-latest]=bochsbios
        [/usr/share/bochs/VGABIOS-lgpl-latest]=vgabios
        ["/usr/lib/*/bochs/plugins/libbx_term_gui.so"]=bochs-term
        ["/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a"]=libclang-rt-14-dev)
    ;;
bench)
    tools+=(clang valgrind python3)
    pkg_of_file+=([/usr/include/mimalloc.h]=libmimalloc-dev
        [/usr/include/jemalloc/jemalloc.h]=libjemalloc-dev
        [/usr/include/gperftools/tcmalloc.h]=libgoogle-perftools-dev)
    ;;
esac

missing=()
for t in "${tools[@]}"; do
    command -v "$t" > /dev/null 2>&1 || missing+=("${pkg_of[$t]}")
done
for f in "${!pkg_of_file[@]}"; do
    # Unquoted on purpose: some paths are globs over versions and triplets.
    compgen -G "$f" > /dev/null || missing+=("${pkg_of_file[$f]}")
done

[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
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
    echo "deps: missing tools. Install them with:" >&2
    echo "    sudo apt-get update && sudo $line" >&2
    exit 1
fi
