"""The multi-threaded tables of tests/bench/report.py (tests/bench/mt_workloads.c,
the executables bench-mt_<alloc>, raw files mt_<alloc>.run.<N>).

Figures are compared within one run: the scaling of an allocator is its own
process's ns per op at 1 thread / at 2 threads, and its ratio to the best is
its ns per op at 2 threads / the lowest of the other four allocators' in the
same round of the rotation; each is then the median over the runs. Every
allocator gets the same figures. The headline keys are Pagoda's:
mt_scaling_2t_pagoda (geometric mean over the workloads) and
mt_ratio_2t_vs_best (against the best of the four peers).

The cost of thread safety on one thread: mt_st_pair_<size>_ns (the
single-thread pair loop on one worker thread of bench-mt_<alloc>, through
the path the threads use) / w1_pair_<size>_ns of bench-<alloc>, medians of
separate processes, geometric mean over 16-1024 B: mt_smp_cost_1t_<alloc>.
"""
import glob
import os
import re
import statistics

from report_common import Stat, fnum, geomean, ratio

ALLOCS = ["pagoda", "glibc", "mimalloc", "jemalloc", "tcmalloc"]
PEERS = ALLOCS[1:]
WLS = [("pairs", "pairs 16-1024 B"), ("mix", "mix 8 B-2 KiB"),
       ("larson", "larson, 1/2 cross-thread")]
SIZES = [16, 64, 256, 1024]


def load(raw):
    """per[alloc][run number][key] = value."""
    per = {}
    for path in glob.glob(os.path.join(raw, "mt_*.run.*")):
        m = re.match(r"mt_(\w+)\.run\.(\d+)$", os.path.basename(path))
        if not m:
            continue
        d = {}
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 3 and p[0] == "R":
                    d[p[1]] = float(p[2])
        per.setdefault(m.group(1), {})[int(m.group(2))] = d
    return per


def tables(raw, runs, j):
    """Print the tables, fill j; return (headline figures, their targets)."""
    per = load(raw)
    allocs = [a for a in ALLOCS if a in per]
    if not allocs:
        return {}, {}
    rounds = sorted(set(r for a in allocs for r in per[a]))

    def val(a, r, key):
        v = per.get(a, {}).get(r, {}).get(key)
        return v if v else None

    def over_runs(f):
        """Stat of f(r) over the runs where it is defined."""
        return Stat([v for v in (f(r) for r in rounds) if v is not None])

    def scaling(a, wl, mean=""):
        return over_runs(lambda r: ratio(val(a, r, "mt_%s_1t%s_ns" % (wl, mean)),
                                         val(a, r, "mt_%s_2t%s_ns" % (wl, mean))))

    def vs_best(a, wl, n, mean=""):
        key = "mt_%s_%dt%s_ns" % (wl, n, mean)

        def f(r):
            others = [val(o, r, key) for o in allocs if o != a and (a != "pagoda" or o in PEERS)]
            others = [v for v in others if v is not None]
            return ratio(val(a, r, key), min(others)) if others else None
        return over_runs(f)

    serialized = any(val("pagoda", r, "mt_serialized") for r in rounds)
    print()
    print("9. multi-threaded, host threads (each thread its own requests; wall clock over all "
          "threads,")
    print("   ns per op = slice time / ops of all threads), median (min-max) of %d runs"
          % len(rounds))
    if serialized:
        print("   pagoda: serialized by the bench (heap not SMP-safe): one global mutex around "
              "each call, so its 2-thread figures measure that lock")
    print("%-36s" % "" + "".join("%22s" % a for a in allocs))

    def line(label, stats):
        print("%-36s" % label + "".join(s.fmt() for s in stats))

    for mean, title in (("", "fastest slice"), ("_mean", "total time / ops")):
        print("  %s" % title)
        for wl, label in WLS:
            for n in (1, 2):
                line("%s, %d thread%s" % (label, n, "s" if n > 1 else ""),
                     [over_runs(lambda r, a=a: val(a, r, "mt_%s_%dt%s_ns" % (wl, n, mean)))
                      for a in allocs])
            line("  scaling (1 thread / 2)", [scaling(a, wl, mean) for a in allocs])
            line("  2 threads / best other", [vs_best(a, wl, 2, mean) for a in allocs])
            if not mean:
                line("  2 threads: CPU use of the threads",
                     [over_runs(lambda r, a=a: val(a, r, "mt_%s_2t_util" % wl)) for a in allocs])
                line("  2 threads: clean slices / all",
                     [over_runs(lambda r, a=a: ratio(val(a, r, "mt_%s_2t_clean_slices" % wl) or 0,
                                                     val(a, r, "mt_%s_2t_slices" % wl)))
                      for a in allocs])

    head, lim = {}, {}
    for a in allocs:
        for mean in ("", "_mean"):
            sc = {wl: scaling(a, wl, mean).med for wl, _ in WLS}
            vb = {wl: vs_best(a, wl, 2, mean).med for wl, _ in WLS}
            v1 = {wl: vs_best(a, wl, 1, mean).med for wl, _ in WLS}
            for wl in sc:
                j["mt_scaling_2t_%s%s_%s" % (a, mean, wl)] = sc[wl]
                j["mt_ratio_2t_%s_vs_best%s_%s" % (a, mean, wl)] = vb[wl]
                j["mt_ratio_1t_%s_vs_best%s_%s" % (a, mean, wl)] = v1[wl]
            j["mt_scaling_2t_%s%s" % (a, mean)] = geomean(list(sc.values()))
            j["mt_ratio_2t_%s_vs_best%s" % (a, mean)] = geomean(list(vb.values()))
            j["mt_ratio_1t_%s_vs_best%s" % (a, mean)] = geomean(list(v1.values()))
        j["mt_serialized_%s" % a] = any(val(a, r, "mt_serialized") for r in rounds)
        fr = [ratio(val(a, r, "mt_%s_2t_clean_slices" % wl) or 0, val(a, r, "mt_%s_2t_slices" % wl))
              for wl, _ in WLS for r in rounds]
        fr = [v for v in fr if v is not None]
        j["mt_clean_fraction_2t_%s" % a] = statistics.median(fr) if fr else None
    for mean in ("", "_mean"):
        for wl, _ in WLS:
            j["mt_ratio_2t_vs_best%s_%s" % (mean, wl)] = j.get("mt_ratio_2t_pagoda_vs_best%s_%s"
                                                              % (mean, wl))

    # The cost of thread safety on one thread.
    print()
    print("Cost of thread safety on one thread: the pair loop of workload 1 on one worker "
          "thread of bench-mt_<alloc>")
    print("(the threads' path%s) / bench-<alloc>'s w1 pair, "
          "medians of separate processes, CPU time, fastest slice"
          % ("; pagoda: the bench's mutex" if serialized else ""))
    print("%-36s" % "" + "".join("%22s" % a for a in allocs))
    for s in SIZES:
        cells = []
        for a in allocs:
            mt = over_runs(lambda r, a=a: val(a, r, "mt_st_pair_%d_ns" % s)).med
            st = Stat(runs.get(a, {}).get("w1_pair_%d_ns" % s, [])).med
            c = ratio(mt, st)
            j["mt_smp_cost_1t_%s_%d" % (a, s)] = c
            cells.append("%s / %s = %s" % (fnum(mt), fnum(st), fnum(c)))
        print("%-36s" % ("pair %d B" % s) + "".join("%22s" % c for c in cells))
    for a in allocs:
        j["mt_smp_cost_1t_%s" % a] = geomean([j.get("mt_smp_cost_1t_%s_%d" % (a, s))
                                              for s in SIZES])
    print("%-36s" % "geometric mean" + "".join("%22s" % fnum(j["mt_smp_cost_1t_%s" % a])
                                                for a in allocs))

    head["mt_scaling_2t_pagoda"] = j.get("mt_scaling_2t_pagoda")
    head["mt_scaling_2t_pagoda_mean"] = j.get("mt_scaling_2t_pagoda_mean")
    head["mt_ratio_2t_vs_best"] = j.get("mt_ratio_2t_pagoda_vs_best")
    head["mt_ratio_2t_vs_best_mean"] = j.get("mt_ratio_2t_pagoda_vs_best_mean")
    head["mt_smp_cost_1t_pagoda"] = j.get("mt_smp_cost_1t_pagoda")
    lim["mt_scaling_2t_pagoda"] = (">=", 1.6)
    lim["mt_ratio_2t_vs_best"] = ("<=", 1.0)
    j["mt_pagoda_serialized"] = serialized
    busy = [a for a in allocs if (j.get("mt_clean_fraction_2t_%s" % a) or 0) < 0.5]
    if busy:
        print()
        print("Warning: fewer than half the 2-thread slices were clean for %s (another job had "
              "a core): their 2-thread figures come from disturbed slices." % ", ".join(busy))
    if serialized:
        print()
        print("(the mt_ figures of pagoda above are for the serialized heap)")
    for k in list(j):
        if isinstance(j[k], float):
            j[k] = round(j[k], 4)
    return head, lim

