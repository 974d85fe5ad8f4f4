#!/usr/bin/env bash
# Run every host unit-test binary given; print their output and one total.
set -uo pipefail
p=0 f=0
for t in "$@"; do
    echo "== $t"
    out=$("$t" 2>&1)
    rc=$?
    echo "$out"
    last=$(tail -1 <<< "$out")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p=$((p + BASH_REMATCH[1])) f=$((f + BASH_REMATCH[2]))
        [ $rc -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ] && f=$((f + 1))
    else
        echo "FAIL $t: crashed or did not finish (status $rc)"
        f=$((f + 1))
    fi
done
echo "$p passed, $f failed"
[ $f -eq 0 ]
