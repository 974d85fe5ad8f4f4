# The kernel heap: the heap_ and slab_ self-tests in QEMU (also at
# 32 MiB, where exhaustion comes sooner) and in Bochs; the boot log's heap
# line and the CraftyOS demonstration, a string grown by krealloc.
HEAP_EXPECT=(--expect '^heap: at 0xffff808000000000, bump arena used [0-9]+ of [0-9]+ bytes'
    --expect '^This is a string\.$' --expect '^[0-9]+ passed, 0 failed'
    --reject 'FAIL|panic|PANIC')

iso heap "test=heap_"
qemu_case heap-tests heap 33 "${HEAP_EXPECT[@]}" --expect 'PASS heap_exhaustion_returns_null'
qemu_case heap-tests-32m heap 33 --mem 32M "${HEAP_EXPECT[@]}"
bochs_case heap-tests-bochs heap "${HEAP_EXPECT[@]}"

iso slab "test=slab_"
qemu_case slab-tests slab 33 "${HEAP_EXPECT[@]}" --expect 'PASS slab_growth_onslab_10000' \
    --expect '^vmm_range +[0-9]+'
bochs_case slab-tests-bochs slab "${HEAP_EXPECT[@]}"

iso heap-demo ""
qemu_case heap-demo heap-demo 124 --timeout 8 --expect '^This is a string\.$' \
    --expect 'Pagoda is up' --reject 'panic|PANIC'
