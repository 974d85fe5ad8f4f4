# The fatal paths: panic() and an unhandled exception each print what
# happened with registers and a symbolic backtrace, then leave with 35.
iso crash-panic "crash=panic"
qemu_case crash-panic crash-panic 35 --expect 'PANIC at src/kern/main.c:[0-9]+: crash test' \
    --expect '^backtrace:' --expect '#[0-9]+ 0x[0-9a-f]+ kmain\+0x'
iso crash-ud "crash=ud"
qemu_case crash-ud crash-ud 35 --expect '\*\*\* #UD invalid opcode \(vector 6\)' \
    --expect '^RIP=ffffffff8[0-9a-f]+ <crash\+0x' --expect '^RAX=' --expect '^R13=' \
    --expect '^CR2=[0-9a-f]+ CR3=' --expect 'kmain\+0x'
iso crash-pf "crash=pf"
qemu_case crash-pf crash-pf 35 \
    --expect 'page fault at 0xffff900000000000: not-present write supervisor' \
    --expect '\*\*\* fatal: #PF page fault'
bochs_case crash-ud-bochs crash-ud --expect '#UD invalid opcode' --expect 'kmain\+0x'
