# The runner itself: a JOBS it cannot use is refused at once with a reason,
# instead of waiting forever for a free slot. The inner runs get a scratch
# TEST_DIR of their own, so they never touch this run's units.
runner_refuses_jobs() { # runner_refuses_jobs VALUE
    local out
    out=$(JOBS=$1 TEST_DIR="$TEST_DIR/runner-jobs-$1" ONLY=25-usb timeout 20 \
        bash tests/boot/run-all.sh 2>&1) && return 1
    grep -q 'JOBS must be a whole number of 1 or more' <<< "$out"
}
shell_case runner-refuses-jobs-0 runner_refuses_jobs 0
shell_case runner-refuses-jobs-word runner_refuses_jobs two

# A missing line is reported with what the run did instead: its first failed
# test and its last line, since CI shows only the runner's one-line verdict.
runner_says_why() {
    local log="$TEST_DIR/runner-why.log" why
    printf 'PASS a\r\nFAIL b: expected 1, got 2\r\nPASS c\r\n\r\n' > "$log"
    why=$(check_log "$log" '^[0-9]+ passed, 0 failed' --) && return 1
    [ "$why" = "missing /^[0-9]+ passed, 0 failed/; first failure: FAIL b: expected 1, got 2; last line: PASS c" ] ||
        { echo "check_log said: $why" >&2; return 1; }
}
shell_case runner-says-why runner_says_why
