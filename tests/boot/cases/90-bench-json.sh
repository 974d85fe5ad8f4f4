# The benchmark's plumbing, not its figures: a very short BENCH_QUICK run of
# every bench executable must write a JSON object in which each headline key
# of the benchmark is a number. (Figures are judged by `make bench`, not here.)
bench_json_check() {
    make -s bench-build || return 1
    BENCH_QUICK=1 BENCH_JSON="$TEST_DIR/bench-quick.json" BENCH_RAW="$TEST_DIR/bench-raw" \
        bash tests/bench/run.sh || return 1
    python3 - "$TEST_DIR/bench-quick.json" << 'PY'
import json, sys
j = json.load(open(sys.argv[1]))
keys = ["ratio_small_vs_mimalloc", "ratio_small_vs_glibc", "ratio_mix_vs_mimalloc",
        "ratio_large_holes_10000_vs_10", "frag_footprint_over_live", "pmm_pair_ns",
        "pmm_speedup_vs_bitscan_4g", "pmm_ratio_256g_vs_128m", "slab_pair_ns"]
bad = [k for k in keys if not isinstance(j.get(k), (int, float)) or j[k] <= 0]
print("bench.json:", len(j), "keys;", "missing or not positive:", bad or "none")
sys.exit(1 if bad else 0)
PY
}
shell_case bench-json bench_json_check
