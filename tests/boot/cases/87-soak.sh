# The SMP stress soak (src/kern/soak.c): every smp_ in-kernel test, round
# after round on all CPUs, with spin and cow running on every CPU meanwhile,
# then "soak: N rounds, T s, 0 failures" and status 33. 20 seconds on 4 CPUs
# in QEMU (TCG, a host thread per vCPU); 40 s of Bochs's emulated clock, at
# least two rounds, on 2 CPUs in Bochs (a round takes about 25 s there).
# A bad soak= value is refused with a message and the failure status.
group soak
for m in build/user/spin build/user/cow; do
    for i in sched-smp-soak20 sched-smp-soak-bochs; do
        [ -f "$TEST_DIR/$i.iso" ] && [ "$m" -nt "$TEST_DIR/$i.iso" ] && rm -f "$TEST_DIR/$i.iso"
    done
done
iso sched-smp-soak20 "soak=20" build/user/spin build/user/cow
qemu_case soak-smp-4 sched-smp-soak20 33 --timeout 240 \
    --expect '^soak: 20 s on 4 CPUs: [0-9]+ smp_ tests each round .*with spin and cow running meanwhile' \
    --expect '^soak: round 1 done' --expect '^soak: [1-9][0-9]* rounds, (2[0-9]|[3-9][0-9]|[0-9]{3,}) s, 0 failures$' \
    --reject 'FAIL|PANIC|skipped' -- -smp 4 -accel tcg,thread=multi

soak_bochs() {
    export BOCHS_CPUS=2
    bochs_case soak-bochs-2 sched-smp-soak-bochs --timeout 600 \
        --expect '^soak: 40 s on 2 CPUs: .*with spin and cow running meanwhile' \
        --expect '^soak: ([2-9]|[1-9][0-9]+) rounds, [0-9]+ s, 0 failures$' --reject 'FAIL|PANIC|skipped'
}
iso sched-smp-soak-bochs "soak=40" build/user/spin build/user/cow
job soak_bochs

iso sched-smp-soak-bad "soak=forever"
qemu_case soak-bad-value sched-smp-soak-bad 35 \
    --expect "^soak: 'forever' is not a number of seconds from 1 to 3600$" -- -smp 2
