# Host unit tests of the portable cores (ASan + UBSan), and the multi-threaded
# model checks (ThreadSanitizer, build/host-tsan/mt_*): each test counts.
host_tests() {
    if ! make -s host-test-build > "$TEST_DIR/host-build.log" 2>&1; then
        record FAIL "host:build" "host tests did not build (see $TEST_DIR/host-build.log)"
        return
    fi
    local t out line n rc
    for t in build/host/test_* build/host-tsan/mt_*; do
        [ -x "$t" ] || continue
        out=$("$t" 2>&1)
        rc=$?
        # A sanitizer's report (a ThreadSanitizer race) makes the exit status
        # nonzero even when every CHECK held.
        if [ $rc -ne 0 ] && grep -q 'Sanitizer' <<< "$out"; then
            record FAIL "host:$(basename "$t"):sanitizer" \
                "$(grep -m1 -E 'SUMMARY|ERROR' <<< "$out")"
        fi
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
