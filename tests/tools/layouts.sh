#!/usr/bin/env bash
# layouts.sh N [CMDLINE] [CPUS]: boot the kernel in Bochs under N memory
# layouts, to hunt a race that one layout never shows.
#
# Bochs runs a given ISO the same way every time (its clock counts
# instructions), so a rare interleaving on several CPUs either happens on
# every run or on none. Each run here boots build/pagoda.elf with one more
# non-loaded section of a different size: GRUB loads it with the kernel, so
# the boot information, the PMM's free frames and the time every CPU reaches
# each point all move, as a different build would move them. CMDLINE is the
# kernel's command line (default "test"), CPUS Bochs's CPU count (default 2).
# Runs two at a time; prints one line per layout and, at the end, the logs
# of the layouts whose last line is not "N passed, 0 failed" (a hang ends
# with the stall watchdog's report, or at BOCHS_TIMEOUT, default 600 s).
# Outputs go to build/layouts/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
n=${1:?usage: layouts.sh N [CMDLINE] [CPUS]}
cmdline=${2:-test}
cpus=${3:-2}
dir=build/layouts
kernel=build/pagoda.elf
[ -f "$kernel" ] || { echo "layouts.sh: $kernel missing (make all first)" >&2; exit 2; }
TEST_DIR=$dir
source tests/boot/lib.sh # iso: the test suite's ISO of a kernel and a command line

one() { # one K: build layout K's ISO, boot it, print its line
    local k=$1 pad="$dir/pad.$1" elf="$dir/pagoda.$1.elf" iso="$dir/layout.$1.iso"
    local log="$dir/layout.$1.log"
    head -c $((k * 1237 + 333)) /dev/zero > "$pad"
    objcopy --add-section .pad="$pad" --set-section-flags .pad=noload,readonly "$kernel" "$elf"
    KERNEL=$elf iso "layout.$k" "$cmdline" > "$dir/layout.$k.mkiso" 2>&1 || {
        echo "layout $k: mkiso failed (see $dir/layout.$k.mkiso)"
        return
    }
    rm -f "$pad" "$elf" "$log"
    local t0=$SECONDS
    BOCHS_CPUS=$cpus BOCHS_TIMEOUT=${BOCHS_TIMEOUT:-600} bash tests/tools/run-bochs.sh "$iso" auto "$log" \
        > "$log.bochs" 2>&1
    rm -f "$iso"
    local last
    last=$(tr -d '\r' < "$log" 2> /dev/null | grep -v '^[[:space:]]*$' | tail -n 1)
    echo "layout $k: $((SECONDS - t0)) s: $last"
}

for ((k = 1; k <= n; k += 2)); do
    one "$k" &
    [ $((k + 1)) -le "$n" ] && one $((k + 1)) &
    wait
done | tee "$dir/summary.txt"
bad=$(grep -v ': [0-9]* passed, 0 failed$' "$dir/summary.txt" || true)
if [ -n "$bad" ]; then
    echo "layouts.sh: these layouts did not pass (logs in $dir/layout.K.log):"
    echo "$bad"
    exit 1
fi
echo "layouts.sh: all $n layouts passed"
