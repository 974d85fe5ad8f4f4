"""The PMM tables of tests/bench/report.py (workload 7): the lower-half
layout against the flat bitmap and the bit-by-bit scan, the random steady
state and the fragmented map. Fills the PMM keys of the JSON object j."""
from report_common import fnum, ratio

MAPS = ["128m", "4g", "256g"]
RMAPS = ["128m", "4g", "64g", "256g"]


def tables(st, med, j):
    print()
    print("7. PMM (lower half of the map used), ns per op: Pagoda, flat bitmap "
          "(hint + word skip), bit-by-bit first fit")
    print("%-26s%22s%22s%24s%10s" % ("", "pagoda", "flat", "bitscan", "vs flat"))
    for m in MAPS:
        for op, label in (("pair", "alloc(1)+free"), ("contig16", "alloc(16)+free"),
                          ("contig512", "alloc(512)+free"), ("fill", "sequential fill/frame")):
            p = st("pmm", "pmm_%s_%s_ns" % (op, m))
            fl = st("pmm", "flat_%s_%s_ns" % (op, m))
            b = st("pmm", "bitscan_%s_%s_ns" % (op, m))
            sp = ratio(b.med, p.med)
            print("%-26s%s%s%s%10s" % ("%s %s" % (m, label), p.fmt(), fl.fmt(), b.fmt(24),
                                     fnum(ratio(p.med, fl.med))))
            if sp:
                j["pmm_speedup_%s_%s" % (op, m)] = round(sp, 1)
    print()
    print("7. PMM random steady state (half the frames live, scattered; free a random "
          "live frame + alloc(1)), ns per step")
    print("%-26s%22s%22s%22s%22s" % ("", "pagoda fastest", "flat fastest",
                                     "pagoda total/ops", "flat total/ops"))
    for m in RMAPS:
        print("%-26s%s%s%s%s" % (m, st("pmm", "pmm_random_%s_ns" % m).fmt(),
                                 st("pmm", "flat_random_%s_ns" % m).fmt(),
                                 st("pmm", "pmm_random_%s_mean_ns" % m).fmt(),
                                 st("pmm", "flat_random_%s_mean_ns" % m).fmt()))
        j["pmm_random_vs_flat_%s" % m] = ratio(med("pmm", "pmm_random_%s_mean_ns" % m),
                                               med("pmm", "flat_random_%s_mean_ns" % m))
        j["pmm_random_vs_flat_fastest_%s" % m] = ratio(med("pmm", "pmm_random_%s_ns" % m),
                                                       med("pmm", "flat_random_%s_ns" % m))
    print()
    print("7. PMM fragmented map (one free frame in 64 over the lower half), "
          "alloc(n)+free pair, ns")
    print("%-26s%22s%22s%22s%22s%22s" % ("", "pagoda fastest", "flat fastest",
                                         "pagoda total/ops", "flat total/ops",
                                         "pagoda first search"))
    for m in ("4g", "256g"):
        for n in (16, 512):
            k = "frag_contig%d_%s" % (n, m)
            print("%-26s%s%s%s%s%s" % ("%s, %d frames" % (m, n), st("pmm", "pmm_%s_ns" % k).fmt(),
                                       st("pmm", "flat_%s_ns" % k).fmt(),
                                       st("pmm", "pmm_%s_mean_ns" % k).fmt(),
                                       st("pmm", "flat_%s_mean_ns" % k).fmt(),
                                       st("pmm", "pmm_%s_first_ns" % k).fmt()))
