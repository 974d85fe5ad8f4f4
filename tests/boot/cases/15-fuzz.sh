# libFuzzer targets (tests/fuzz/fuzz_*.c): each runs for FUZZ_SECONDS (20 by
# default) with its seed corpus, as a unit of its own; one PASS/FAIL each.
fuzz_one() { # fuzz_one NAME
    local target=build/fuzz/fuzz_$1 out line seen=0
    if ! make -s "$target" > "$TEST_DIR/fuzz-$1-build.log" 2>&1; then
        record FAIL "fuzz:$1" "did not build (see $TEST_DIR/fuzz-$1-build.log)"
        return
    fi
    out=$(bash tests/tools/run-fuzz.sh "${FUZZ_SECONDS:-20}" "$target" 2>&1)
    echo "$out" > "$TEST_DIR/fuzz-$1.log"
    while IFS= read -r line; do
        case $line in
        "PASS fuzz:"*) line=${line#PASS }; record PASS "${line%% *}"; seen=1 ;;
        "FAIL fuzz:"*) line=${line#FAIL }; record FAIL "${line%% *}" "${line#* }"; seen=1 ;;
        esac
    done <<< "$out"
    [ $seen = 1 ] || record FAIL "fuzz:$1" "no result (see $TEST_DIR/fuzz-$1.log)"
}
fuzz_names=$(ls tests/fuzz/fuzz_*.c | sed -n 's|.*/fuzz_\(.*\)\.c$|\1|p' | grep -vx support)
[ -n "$fuzz_names" ] || record FAIL "fuzz:none" "no fuzz target in tests/fuzz"
for n in $fuzz_names; do job fuzz_one "$n"; done
