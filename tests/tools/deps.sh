#!/usr/bin/env bash
# deps.sh run|test|bench: check the tools a target needs. When something is
# missing, install it with apt-get if we are root or have non-interactive
# sudo; otherwise print the exact apt-get line and stop.
set -euo pipefail
what=${1:-run}

declare -A pkg_of=(
    [nasm]=nasm [gcc]=gcc [ld]=binutils [make]=make [grub-mkrescue]=grub-common
    [xorriso]=xorriso [mformat]=mtools [qemu-system-x86_64]=qemu-system-x86
    [bochs]=bochs [script]=bsdutils [python3]=python3
)
tools=(nasm gcc ld grub-mkrescue xorriso mformat qemu-system-x86_64)
case $what in
test) tools+=(bochs clang python3 script) ;;
bench) tools+=(clang valgrind python3); pkg_of[clang]=clang; pkg_of[valgrind]=valgrind ;;
esac
pkg_of[clang]=clang
pkg_of[valgrind]=valgrind

missing=()
for t in "${tools[@]}"; do
    command -v "$t" > /dev/null 2>&1 || missing+=("${pkg_of[$t]}")
done
# grub-mkrescue without the BIOS platform files silently makes an ISO that
# does not boot on a PC ("Could not read from CDROM (code 0009)").
[ -f /usr/lib/grub/i386-pc/cdboot.img ] || missing+=(grub-pc-bin)
if [ "$what" = test ] || [ "$what" = run ]; then
    # Bochs needs its BIOS images and the term display plugin; QEMU's BIOS
    # comes with the package.
    if [ "$what" = test ]; then
        [ -f /usr/share/bochs/BIOS-bochs-latest ] || missing+=(bochsbios)
        [ -f /usr/share/bochs/VGABIOS-lgpl-latest ] || missing+=(vgabios)
        ls /usr/lib/*/bochs/plugins/libbx_term_gui.so > /dev/null 2>&1 || missing+=(bochs-term)
        # libFuzzer and the sanitizers' runtime for clang.
        ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a > /dev/null 2>&1 ||
            missing+=(libclang-rt-14-dev)
    fi
fi
if [ "$what" = bench ]; then
    for h in mimalloc.h jemalloc/jemalloc.h gperftools/tcmalloc.h; do
        [ -f "/usr/include/$h" ] || case $h in
            mimalloc.h) missing+=(libmimalloc-dev) ;;
            jemalloc/*) missing+=(libjemalloc-dev) ;;
            gperftools/*) missing+=(libgoogle-perftools-dev) ;;
        esac
    done
fi

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
