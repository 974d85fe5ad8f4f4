# The physical memory manager: the pmm_ self-tests at RAM sizes from 32 MiB to
# 256 GiB, with a module whose CRC-32 must survive them. The boot-log line
# "pmm: usable=N KiB ..." must agree with the memory map the adapter printed
# ("memmap: total type=usable ... (N KiB)") and with -m, within 4 MiB.

PMM_MODULE="$TEST_DIR/pmm-module.bin"
[ -s "$PMM_MODULE" ] || head -c 200000 /dev/urandom > "$PMM_MODULE"
iso pmm "test=pmm_" "$PMM_MODULE"

PMM_EXPECT=(--expect '^[0-9]+ passed, 0 failed'
    --expect 'pmm: usable=[0-9]+ KiB free=[0-9]+ KiB bitmap=[0-9]+ bytes at 0x[0-9a-f]+'
    --expect 'PASS pmm_every_frame_once' --expect '1 module CRC-32s unchanged'
    --reject 'FAIL|panic|PANIC')

pmm_usable_check() { # NAME MIB: the pmm line against the memmap total and -m
    local name=$1 mib=$2 log="$TEST_DIR/$1.log" pmm map
    pmm=$(grep -aoE 'pmm: usable=[0-9]+ KiB' "$log" | grep -oE '[0-9]+' | head -1)
    map=$(grep -aoE 'memmap: total type=usable .*\([0-9]+ KiB\)' "$log" |
        grep -oE '\([0-9]+' | tr -d '(' | head -1)
    if [ -z "$pmm" ] || [ -z "$map" ]; then
        record FAIL "$name-usable" "no pmm usable or memmap total line (log: $log)"
        return
    fi
    local dmap=$((pmm - map)) dram=$((mib * 1024 - pmm))
    if [ ${dmap#-} -gt 4096 ] || [ $dram -lt 0 ] || [ $dram -gt 4096 ]; then
        record FAIL "$name-usable" "pmm usable=$pmm KiB, memmap usable=$map KiB, -m $mib MiB"
        return
    fi
    record PASS "$name-usable"
}

pmm_boot() { # pmm_boot SIZE MIB
    qemu_case "pmm-$1" pmm 33 --mem "$1" --timeout 90 "${PMM_EXPECT[@]}"
    pmm_usable_check "pmm-$1" "$2"
}
# 256 GiB: QEMU cannot allocate that on this host, so it runs on a sparse
# file (only the pages the guest touches take disk space), deleted after.
pmm_boot_256g() {
    local ram="$TEST_DIR/pmm-256G.ram"
    rm -f "$ram"
    truncate -s 256G "$ram"
    qemu_case pmm-256G pmm 33 --mem 256G --timeout 180 "${PMM_EXPECT[@]}" -- \
        -object "memory-backend-file,id=m,size=256G,mem-path=$ram,share=on" \
        -machine memory-backend=m
    rm -f "$ram"
    pmm_usable_check pmm-256G $((256 * 1024))
}
pmm_bochs() {
    bochs_case pmm-bochs pmm --expect '^[0-9]+ passed, 0 failed' \
        --expect 'pmm: usable=[0-9]+ KiB free=[0-9]+ KiB bitmap=[0-9]+ bytes at 0x[0-9a-f]+' \
        --expect 'PASS pmm_every_frame_once' --reject 'FAIL|panic|PANIC'
    pmm_usable_check pmm-bochs 128
}
job pmm_boot_256g
job pmm_bochs
for pmm_mem in 32:32M 128:128M 1024:1G 3583:3583M 8192:8G; do
    job pmm_boot "${pmm_mem#*:}" "${pmm_mem%%:*}"
done
