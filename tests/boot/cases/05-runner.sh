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
