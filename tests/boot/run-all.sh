#!/usr/bin/env bash
# The whole test suite behind `make test`: host unit tests, fuzzers, then
# every boot case in tests/boot/cases/*.sh (in name order). Prints a summary
# per group; the last line is "N passed, N failed" over everything.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/boot/lib.sh

ONLY=${ONLY:-} # ONLY=regex runs just the matching case files

for f in tests/boot/cases/*.sh; do
    if [ -n "$ONLY" ] && ! [[ $f =~ $ONLY ]]; then continue; fi
    echo "== $(basename "$f" .sh)"
    group "$(basename "$f" .sh | sed 's/^[0-9]*-//')"
    source "$f"
done

echo
echo "Summary by group:"
declare -A gp=() gf=()
declare -a order=()
for r in "${RESULTS[@]}"; do
    g=${r%|*} v=${r#*|}
    if [ -z "${gp[$g]+x}" ]; then order+=("$g"); gp[$g]=0; gf[$g]=0; fi
    if [ "$v" = PASS ]; then gp[$g]=$((gp[$g] + 1)); else gf[$g]=$((gf[$g] + 1)); fi
done
for g in "${order[@]}"; do
    printf '  %-24s %3d passed, %d failed\n' "$g" "${gp[$g]}" "${gf[$g]}"
done
echo "$CASES_PASSED passed, $CASES_FAILED failed"
[ "$CASES_FAILED" -eq 0 ]
