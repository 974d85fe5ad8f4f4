#!/usr/bin/env bash
# `make bench`'s driver. Runs every bench executable in build/bench (each
# allocator in its own process, never preloaded), BENCH_RUNS times (default
# 4), the order rotating from one run to the next so that no allocator is
# always first (or always after the same one); then the footprint and burst
# modes in fresh processes, one callgrind pass per executable, and one QEMU
# boot of the kernel with `bench`. The multi-threaded executables (mt_<alloc>)
# take part in the rotation of the timed runs. tests/bench/report.py prints the table
# (median, min-max) and writes build/bench.json.
#
#   BENCH_QUICK=1   one short run, no callgrind, no QEMU (for the JSON check)
#   BENCH_RUNS=N    runs per executable (BENCH_PMM_RUNS=N for bench-pmm, default 3)
#   BENCH_SCALE=F   iteration-count and time-budget factor (default 1)
#   BENCH_BUDGET_MS=N  time budget of one timed test (default 40)
#   BENCH_CALLGRIND=0 / BENCH_KERNEL=0   skip those parts
#   BENCH_JSON=FILE, BENCH_RAW=DIR       where the JSON and raw results go
set -uo pipefail
cd "$(dirname "$0")/../.."

OUT=build/bench
RAW=${BENCH_RAW:-$OUT/raw}
JSON=${BENCH_JSON:-build/bench.json}
RUNS=${BENCH_RUNS:-4}
CG=${BENCH_CALLGRIND:-1}
KB=${BENCH_KERNEL:-1}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    RUNS=${BENCH_RUNS:-1}
    export BENCH_SCALE=${BENCH_SCALE:-0.02}
    CG=0
    KB=0
fi
rm -rf "$RAW"
mkdir -p "$RAW"

exes=()
for a in pagoda pagoda_unchecked glibc mimalloc jemalloc tcmalloc checked pmm; do
    if [ -x "$OUT/bench-$a" ]; then
        exes+=("$a")
    else
        echo "bench: $OUT/bench-$a missing, skipped" >&2
    fi
done
# The multi-threaded workloads (tests/bench/mt_workloads.c): mt_<alloc>.
for a in pagoda glibc mimalloc jemalloc tcmalloc; do
    if [ -x "$OUT/bench-mt_$a" ]; then
        exes+=("mt_$a")
    else
        echo "bench: $OUT/bench-mt_$a missing, skipped" >&2
    fi
done
allocs=()
for a in "${exes[@]}"; do
    case $a in pmm | checked | mt_*) ;; *) allocs+=("$a") ;; esac
done
[ -x "$OUT/bench-pagoda" ] && allocs+=(pagoda_h1)

fail=0
# run NAME MODE OUTFILE; pagoda_h1 is Pagoda's heap with hardening level 1,
# pagoda_norelease the shipped heap without a release call.
run() {
    local exe=$1 env=()
    case $1 in
    pagoda_h1) exe=pagoda env=(BENCH_HARDEN=1) ;;
    pagoda_norelease) exe=pagoda env=(BENCH_NO_RELEASE=1) ;;
    checked) env=(BENCH_CHECKED_SWAP=$((${r:-0} % 2))) ;; # which build loads first
    mt_*) env=(BENCH_MT_ROUND=${r:-0}) ;; # which thread count goes first
    esac
    if ! env "${env[@]}" "$OUT/bench-$exe" "$2" > "$3" 2> "$3.err"; then
        echo "bench: bench-$1 $2 failed: $(tail -2 "$3.err" | tr '\n' ' ')" >&2
        fail=1
    fi
}
# rotate K NAME...: the names, starting at the K-th (mod their count).
rotate() {
    local k=$1
    shift
    local n=$# i
    local a=("$@")
    for ((i = 0; i < n; i++)); do echo "${a[$(((i + k) % n))]}"; done
}

# What the figures were measured on, for the table's header.
{
    echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
    echo "compiler: $(${HOSTCC:-cc} --version | head -1), -O2"
    echo "libraries: $(dpkg-query -W -f '${Package} ${Version}, ' libc6 libmimalloc2.0 \
        libjemalloc2 libtcmalloc-minimal4 2> /dev/null | sed 's/, $//')"
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
} > "$RAW/machine.txt"

start=$(date +%s)
base=("${allocs[@]}")
for a in "${exes[@]}"; do
    case $a in checked | mt_*) base+=("$a") ;; esac
done
timed=("${base[@]}")
for a in "${exes[@]}"; do [ "$a" = pmm ] && timed+=(pmm); done
PMM_RUNS=${BENCH_PMM_RUNS:-3} # its maps of 64 and 256 GiB take seconds to set up
for r in $(seq 1 "$RUNS"); do
    [ "$r" -le "$PMM_RUNS" ] || timed=("${base[@]}")
    order=$(rotate "$((r - 1))" "${timed[@]}" | tr '\n' ' ')
    echo "bench: run $r of $RUNS: $order" >&2
    for a in $order; do run "$a" run "$RAW/$a.run.$r"; done
done
echo "bench: timed runs done at $(($(date +%s) - start)) s" >&2
# Fresh processes, one per allocator and mode, in rotating order too.
k=0
for mode in frag fragwide burst burst1; do
    for a in $(rotate "$k" "${allocs[@]}"); do run "$a" "$mode" "$RAW/$a.$mode"; done
    k=$((k + 1))
done
[ -x "$OUT/bench-pagoda" ] && run pagoda_norelease burst "$RAW/pagoda_norelease.burst"

if [ "$CG" = 1 ] && command -v valgrind > /dev/null; then
    echo "bench: callgrind at $(($(date +%s) - start)) s" >&2
    for a in "${allocs[@]}" pmm; do
        [ "$a" != pmm ] || [ -x "$OUT/bench-pmm" ] || continue
        exe=$a env=()
        [ "$a" = pagoda_h1 ] && exe=pagoda env=(BENCH_HARDEN=1)
        env "${env[@]}" valgrind --tool=callgrind --collect-atstart=no \
            --callgrind-out-file="$RAW/cg.$a.out" "$OUT/bench-$exe" callgrind \
            > "$RAW/$a.cg" 2> "$RAW/$a.cg.err" ||
            echo "bench: callgrind of bench-$a failed (see $RAW/$a.cg.err)" >&2
    done
fi

if [ "$KB" = 1 ] && [ -f build/pagoda.elf ]; then
    echo "bench: kernel (QEMU TCG) at $(($(date +%s) - start)) s" >&2
    source tests/boot/lib.sh
    if iso bench "bench" > "$RAW/kernel-iso.log" 2>&1; then
        timeout -k 5 120 "$QEMU" -cdrom "$TEST_DIR/bench.iso" -m 512M -display none \
            -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
            -serial "file:$RAW/kernel.log" < /dev/null > "$RAW/kernel-qemu.log" 2>&1
        st=$?
        [ "$st" = 33 ] || echo "bench: kernel bench run ended with status $st" >&2
    else
        echo "bench: could not build the bench ISO (see $RAW/kernel-iso.log)" >&2
    fi
fi

python3 -B tests/bench/report.py "$RAW" "$JSON" "$RUNS" || fail=1
echo "bench: done in $(($(date +%s) - start)) s" >&2
exit $fail
