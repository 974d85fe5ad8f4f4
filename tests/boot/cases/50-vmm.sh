# The VMM: its in-kernel tests with and without NX and under
# Bochs, the CraftyOS 0xDEADBEEF demonstration, and the five fault=
# demonstrations, each with the message that names what happened.
iso vmm "test=vmm_"
qemu_case vmm-tests vmm 33 --expect '^vmm: kernel space at CR3=' \
    --expect '^The string at 0xBEEF: Storing this string at 0xDEADBEEF\.\.\.' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL '
qemu_case vmm-tests-no-nx vmm 33 --expect 'vmm: NX not available' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL ' -- -cpu qemu64,-nx
bochs_case vmm-tests-bochs vmm --expect '^vmm: kernel space at CR3=' \
    --expect '^[0-9]+ passed, 0 failed' --reject '^FAIL '

iso vmm-null "fault=null"
qemu_case vmm-fault-null vmm-null 35 \
    --expect 'page fault: NULL pointer dereference at 0x0+ in page 0' \
    --expect 'not-present read supervisor'
bochs_case vmm-fault-null-bochs vmm-null --expect 'page fault: NULL pointer dereference'
iso vmm-wx "fault=wx"
qemu_case vmm-fault-wx vmm-wx 35 \
    --expect 'page fault: write to a read-only page at 0xffffffff8[0-9a-f]+ in kernel \.text' \
    --expect 'protection-violation write supervisor'
iso vmm-nx "fault=nx"
qemu_case vmm-fault-nx vmm-nx 35 \
    --expect 'page fault: instruction fetch from a no-execute page at 0xffffffff8[0-9a-f]+ in kernel \.data' \
    --expect 'instruction-fetch'
qemu_case vmm-fault-nx-without-nx vmm-nx 35 --expect 'this CPU has no NX' -- -cpu qemu64,-nx
iso vmm-stack "fault=stack"
qemu_case vmm-fault-stack vmm-stack 35 \
    --expect 'kernel stack overflow: boot_stack hit its guard page' \
    --expect '#DF double fault' --reject 'panic while panicking'
bochs_case vmm-fault-stack-bochs vmm-stack \
    --expect 'kernel stack overflow: boot_stack hit its guard page' --reject 'panic while panicking'
iso vmm-demand "fault=demand"
qemu_case vmm-fault-demand vmm-demand 33 \
    --expect 'fault=demand: reserved 4 pages at 0xffff81[0-9a-f]+ \(first page mapped: no\)' \
    --expect 'fault=demand: read 0x0 at 0xffff81[0-9a-f]+, now backed by frame 0x[0-9a-f]+ \(mapped: yes\)' \
    --reject 'PANIC'

# No kernel function may have a stack frame larger than the bound (a guard
# page less a margin): the build refuses one, and accepts a small one.
shell_case vmm-frame-bound make -s check-frame-bound
