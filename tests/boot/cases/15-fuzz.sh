# libFuzzer targets (tests/fuzz/fuzz_*.c): `make fuzz` runs each for
# FUZZ_SECONDS (20 by default) with its seed corpus; one PASS/FAIL per target.
fuzz_out=$(make -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}" 2>&1)
echo "$fuzz_out" > "$TEST_DIR/fuzz.log"
fuzz_seen=0
while IFS= read -r line; do
    case $line in
    "PASS fuzz:"*) n=${line#PASS }; record PASS "${n%% *}"; fuzz_seen=1 ;;
    "FAIL fuzz:"*) n=${line#FAIL }; record FAIL "${n%% *}" "${n#* }"; fuzz_seen=1 ;;
    esac
done <<< "$fuzz_out"
if [ "$fuzz_seen" = 0 ]; then
    record FAIL "fuzz:build" "no fuzz target ran (see $TEST_DIR/fuzz.log)"
fi
