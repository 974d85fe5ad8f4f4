# The benchmark's plumbing, not its figures: a very short BENCH_QUICK run of
# every bench executable must write a JSON object in which each headline key
# is a number (the time ratios against the best peer in every band, the
# latency tail, the RSS footprint, the burst, the PMM against the flat
# bitmap, the cost of the free checks, the threads' scaling and ratio to the
# best, and the earlier headline keys).
# (Figures are judged by `make bench`, not here.)
bench_json_check() {
    make -s bench-build || return 1
    BENCH_QUICK=1 BENCH_JSON="$TEST_DIR/bench-quick.json" BENCH_RAW="$TEST_DIR/bench-raw" \
        bash tests/bench/run.sh || return 1
    python3 - "$TEST_DIR/bench-quick.json" << 'PY'
import json, sys
j = json.load(open(sys.argv[1]))
positive = ["ratio_small_vs_mimalloc", "ratio_small_vs_glibc", "ratio_mix_vs_mimalloc",
            "ratio_large_holes_10000_vs_10", "frag_footprint_over_live", "pmm_pair_ns",
            "pmm_speedup_vs_bitscan_4g", "pmm_ratio_256g_vs_128m", "slab_pair_ns",
            "ratio_small_vs_best", "ratio_medium_vs_best", "ratio_large_vs_best",
            "ratio_mix_vs_best", "ratio_mix_wide_vs_best", "p999_mix_vs_best",
            "ratio_batch_lifo_vs_best", "ratio_batch_fifo_vs_best",
            "rss_over_live_pagoda", "rss_over_live_best_peer", "pmm_random_vs_flat_4g",
            "pmm_random_vs_flat_256g", "pmm_frag_contig16_ns", "pmm_frag_contig512_ns",
            "ratio_checked_vs_unchecked_small", "ratio_checked_vs_unchecked_mix",
            "ratio_checked_vs_unchecked_mix_cold"]
positive += ["rss_over_live_%s" % a for a in ("glibc", "mimalloc", "jemalloc", "tcmalloc")]
# The threads (bench-mt_<alloc>): scaling from 1 to 2 threads and the ratio to
# the best at 2 threads, for every allocator and workload, and the cost of
# thread safety on one thread.
mt_allocs = ("pagoda", "glibc", "mimalloc", "jemalloc", "tcmalloc")
positive += ["mt_ratio_2t_vs_best"]
positive += ["mt_ratio_2t_vs_best_%s" % w for w in ("pairs", "mix", "larson")]
positive += ["mt_scaling_2t_%s%s" % (a, w) for a in mt_allocs
             for w in ("", "_pairs", "_mix", "_larson")]
positive += ["mt_ratio_2t_%s_vs_best" % a for a in mt_allocs]
positive += ["mt_smp_cost_1t_%s" % a for a in mt_allocs]
counts = ["burst_retained_kib_%s" % a for a in ("pagoda", "glibc", "mimalloc", "jemalloc",
                                                  "tcmalloc")]
counts += ["burst1_retained_kib_pagoda", "burst1_retained_kib_glibc"]
present = ["instr_small_vs_best"]  # null here: the quick run has no callgrind
num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
bad = [k for k in positive if not num(j.get(k)) or j[k] <= 0]
bad += [k for k in counts if not num(j.get(k)) or j[k] < 0]
bad += [k for k in present if k not in j]
print("bench.json:", len(j), "keys;", "missing or not positive:", bad or "none")
sys.exit(1 if bad else 0)
PY
}
shell_case bench-json bench_json_check
