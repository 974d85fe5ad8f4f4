# Host unit tests of the portable cores (ASan + UBSan): each test counts.
host_tests() {
    if ! make -s host-test-build > "$TEST_DIR/host-build.log" 2>&1; then
        record FAIL "host:build" "host tests did not build (see $TEST_DIR/host-build.log)"
        return
    fi
    local t out line n
    for t in build/host/test_*; do
        [ -x "$t" ] || continue
        out=$("$t" 2>&1)
        while IFS= read -r line; do
            case $line in
            "PASS "*) record PASS "host:${line#PASS }" ;;
            "FAIL "*) n=${line#FAIL }; record FAIL "host:${n%%:*}" "${n#*: }" ;;
            esac
        done <<< "$out"
        if ! tail -1 <<< "$out" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
            record FAIL "host:$(basename "$t")" "did not finish: $(tail -3 <<< "$out" | tr '\n' ' ')"
        fi
    done
}
job host_tests
