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
qemu_case heap-demo heap-demo 124 --timeout 60 --expect '^This is a string\.$' \
    --expect 'Pagoda is up' --reject 'panic|PANIC'

# Aligned small blocks at level 0, the configuration of a normal boot
# (test boots harden at level 1, where the list allocator serves them).
iso heapperf-aligned "test=heap_aligned heap_harden=0"
qemu_case heapperf-aligned heapperf-aligned 33 --expect 'heap_aligned: hardening 0' \
    --expect 'PASS heap_aligned_small_blocks' --expect '^1 passed, 0 failed' --reject 'FAIL|panic|PANIC'
bochs_case heapperf-aligned-bochs heapperf-aligned --expect 'heap_aligned: hardening 0' \
    --expect 'PASS heap_aligned_small_blocks' --reject 'FAIL|panic|PANIC'
