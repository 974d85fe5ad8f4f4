#!/usr/bin/env bash
# The whole test suite behind `make test`: host unit tests, fuzzers, then
# every boot case in tests/boot/cases/*.sh (in name order). Cases run in
# parallel, JOBS at a time (default: one per core), and their lines are
# printed whole and in queue order. Prints a summary per group, the time the
# suite took against the time its cases add up to, and last the line
# "N passed, N failed" over everything.
#   ONLY=REGEX   run just the case files whose path matches
#   JOBS=N       run N cases at a time
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/boot/lib.sh

ONLY=${ONLY:-}
rm -rf "$UNIT_DIR" && mkdir -p "$UNIT_DIR"
# On Ctrl-C or a kill, stop the cases still running too.
trap 'trap - INT TERM; kill_units; exit 130' INT TERM
wall0=$(date +%s%N)

for f in tests/boot/cases/*.sh; do
    if [ -n "$ONLY" ] && ! [[ $f =~ $ONLY ]]; then continue; fi
    CURRENT_HEADER=$(basename "$f" .sh)
    group "${CURRENT_HEADER#[0-9]*-}"
    source "$f"
done
wait_units
wall_ms=$((($(date +%s%N) - wall0) / 1000000))
serial_ms=$(units_serial_ms)

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
awk -v w="$wall_ms" -v s="$serial_ms" -v j="$JOBS" 'BEGIN {
    printf "jobs: %d at a time, wall/serial %.2f\n", j, (s > 0 ? w / s : 0)
    printf "time: wall=%.0f s, serial=%.0f s\n", w / 1000, s / 1000 }'
echo "$CASES_PASSED passed, $CASES_FAILED failed"
[ "$CASES_FAILED" -eq 0 ]
