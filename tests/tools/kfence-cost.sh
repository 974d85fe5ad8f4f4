#!/bin/bash
# Build tests/tools/kfence-cost.c against the benchmark's build of the
# portable cores (make bench-build), and run it with sampling off and at
# several intervals. Optional: BASE=DIR, a tree without kfence (e.g. an older
# checkout) whose heap is timed the same way (hooks absent).
set -e
make --no-print-directory build/bench/libpagoda_bench.a >/dev/null
CF="-std=gnu11 -O2 -g -Iinclude -DPAGODA_HOST -DPAGODA_BENCH -fno-omit-frame-pointer"
gcc $CF tests/tools/kfence-cost.c build/bench/libpagoda_bench.a -o build/bench/kfence-cost
for run in 1 2 3; do
    for cfg in off 1024 4096 16384 65536 "4096 mprotect" "65536 mprotect"; do
        taskset -c 0 build/bench/kfence-cost $cfg 2>/dev/null || build/bench/kfence-cost $cfg
    done
done
