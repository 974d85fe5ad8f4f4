#!/usr/bin/env bash
# run-fuzz.sh SECONDS TARGET...
# Run each libFuzzer target (build/fuzz/fuzz_NAME) for SECONDS with its seed
# corpus tests/fuzz/corpus/NAME/ (read-only: new inputs go to a scratch copy
# under build/fuzz/corpus/NAME/). Prints "PASS fuzz:NAME" or "FAIL fuzz:NAME"
# per target and exits non-zero when any failed. Crash inputs land in
# build/fuzz/artifacts/NAME/.
set -uo pipefail
# UBSan findings must stop the run, or libFuzzer would not see them.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
secs=${1:?usage: run-fuzz.sh SECONDS TARGET...}
shift
failed=0
for t in "$@"; do
    name=$(basename "$t")
    name=${name#fuzz_}
    seed=tests/fuzz/corpus/$name
    work=build/fuzz/corpus/$name
    art=build/fuzz/artifacts/$name
    mkdir -p "$work" "$art"
    [ -d "$seed" ] && cp -n "$seed"/* "$work"/ 2>/dev/null
    log=build/fuzz/$name.log
    if "$t" -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" > "$log" 2>&1; then
        runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
        echo "PASS fuzz:$name (${runs:-?} runs in ${secs}s)"
    else
        echo "FAIL fuzz:$name (see $log; crash inputs in $art/)"
        grep -E 'ERROR|runtime error|panic|invariant' "$log" | head -5
        failed=1
    fi
done
exit $failed
