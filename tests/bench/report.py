#!/usr/bin/env python3
"""Turn the raw result lines of tests/bench/run.sh into the table on stdout
and the flat JSON object build/bench.json.

Raw directory layout (written by run.sh):
  <exe>.run.<N>   "R key value" lines of timed run N
  <exe>.frag      workload 6 (fresh process)
  <exe>.cg        "R cg_... " lines of the callgrind mode
  cg.<exe>.out.*  callgrind dumps, one per section
  kernel.log      serial log of the in-kernel `bench` run (optional)
"""
import glob
import json
import math
import os
import re
import statistics
import sys

ALLOCS = ["pagoda", "glibc", "mimalloc", "jemalloc", "tcmalloc"]
W1_SIZES = [16, 64, 256, 1024, 2048]
MAPS = ["128m", "4g", "256g"]


def read_lines(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 3 and p[0] == "R":
                    out[p[1]] = float(p[2])
    except OSError:
        pass
    return out


def load(raw):
    """runs[exe][key] = [values over runs]; single[exe][key] = value."""
    runs, single = {}, {}
    for path in sorted(glob.glob(os.path.join(raw, "*.run.*"))):
        exe = os.path.basename(path).split(".")[0]
        for k, v in read_lines(path).items():
            runs.setdefault(exe, {}).setdefault(k, []).append(v)
    for kind in ("frag", "cg"):
        for path in glob.glob(os.path.join(raw, "*." + kind)):
            exe = os.path.basename(path).split(".")[0]
            single.setdefault(exe, {}).update(read_lines(path))
    return runs, single


def callgrind_totals(raw, exe):
    """{section label: instructions} from the dumps of one executable."""
    res = {}
    for path in glob.glob(os.path.join(raw, "cg.%s.out*" % exe)):
        label, total = None, None
        with open(path) as f:
            for line in f:
                m = re.match(r"desc: Trigger: Client Request: (\S+)", line)
                if m:
                    label = m.group(1)
                m = re.match(r"(?:totals|summary): (\d+)", line)
                if m and total is None:
                    total = int(m.group(1))
        if label and total is not None:
            res[label] = total
    return res


class Stat:
    def __init__(self, values):
        self.values = values
        self.med = statistics.median(values) if values else None
        self.lo = min(values) if values else None
        self.hi = max(values) if values else None

    def fmt(self, width=22):
        if self.med is None:
            txt = "n/a"
        elif len(self.values) == 1:
            txt = fnum(self.med)
        else:
            txt = "%s (%s-%s)" % (fnum(self.med), fnum(self.lo), fnum(self.hi))
        return " " + txt.rjust(width - 1) if width else txt


def fnum(v):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return "%.3g" % v
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    raw, json_path = sys.argv[1], sys.argv[2]
    nruns = sys.argv[3] if len(sys.argv) > 3 else "?"
    runs, single = load(raw)
    j = {}

    def st(exe, key):
        return Stat(runs.get(exe, {}).get(key, []))

    def med(exe, key):
        return st(exe, key).med

    allocs = [a for a in ALLOCS if a in runs]
    head = "%-26s" % "" + "".join("%22s" % a for a in allocs)

    def table(title, rows):
        print()
        print(title)
        print(head)
        for label, key in rows:
            print("%-26s" % label + "".join(st(a, key).fmt() for a in allocs))

    print("Pagoda allocator benchmark: ns per operation, median (min-max) of %s runs" % nruns)
    try:
        with open(os.path.join(raw, "machine.txt")) as f:
            for line in f:
                print("  " + line.rstrip())
                k, _, v = line.partition(": ")
                j["machine_" + k] = v.strip()
    except OSError:
        pass
    table("1. malloc+free pair (ns)", [("%d B" % s, "w1_pair_%d_ns" % s) for s in W1_SIZES])
    table("2. LIFO batches, ns per malloc+free",
          [("batch %d x %d B" % (b, s), "w2_lifo_%d_%d_ns" % (b, s))
           for b in (25, 100, 400, 1600) for s in (16, 32, 64)])
    table("3-5. mixes (ns per step)",
          [("3. random mix 8B-2KiB", "w3_mix_ns")] +
          [("4. large, %d holes" % h, "w4_large_holes_%d_ns" % h) for h in (10, 1000, 10000)] +
          [("5. larson-style server", "w5_larson_ns")])

    print()
    print("6. fragmentation on workload 3: peak footprint / peak live bytes")
    for a in allocs + (["pagoda_h1"] if "pagoda_h1" in single else []):
        s = single.get(a, {})
        f = s.get("w6_footprint_over_live")
        fp = s.get("w6_peak_footprint_bytes")
        print("%-26s%10s   footprint %s MiB, live %s MiB" % (
            a, fnum(f), fnum(fp / 2**20) if fp else "n/a",
            fnum(s.get("w6_peak_live_bytes", 0) / 2**20)))
        if f is not None:
            j["frag_%s" % a] = round(f, 4)

    # Medians of everything, flat.
    for exe, keys in runs.items():
        for k, v in keys.items():
            j["%s_%s" % (exe, k)] = round(statistics.median(v), 4)

    # Workload 7.
    if "pmm" in runs:
        print()
        print("7. PMM (lower half of the map used), ns per op: Pagoda vs bit-by-bit first fit")
        print("%-26s%22s%30s%12s" % ("", "pagoda", "bitscan", "speedup"))
        for m in MAPS:
            for op, label in (("pair", "alloc(1)+free"), ("contig16", "alloc(16)+free"),
                              ("contig512", "alloc(512)+free"), ("fill", "sequential fill/frame")):
                p, b = st("pmm", "pmm_%s_%s_ns" % (op, m)), st("pmm", "bitscan_%s_%s_ns" % (op, m))
                sp = ratio(b.med, p.med)
                print("%-26s%s%s%12s" % ("%s %s" % (m, label), p.fmt(), b.fmt(30),
                                         ("%.0fx" % sp) if sp else "n/a"))
                if sp:
                    j["pmm_speedup_%s_%s" % (op, m)] = round(sp, 1)

    if "pagoda_h1" in runs:
        print()
        print("Cost of Pagoda's heap hardening (level 1 vs the shipped default, level 0), ns")
        print("%-26s%22s%22s%10s" % ("", "pagoda (level 0)", "pagoda (level 1)", "cost"))
        for label, key in ([("1. pair %d B" % s, "w1_pair_%d_ns" % s) for s in W1_SIZES] +
                           [("3. random mix", "w3_mix_ns"), ("5. larson-style", "w5_larson_ns")]):
            a, b = st("pagoda", key), st("pagoda_h1", key)
            c = ratio(b.med, a.med)
            print("%-26s%s%s%10s" % (label, a.fmt(), b.fmt(),
                                     "%+.0f%%" % ((c - 1) * 100) if c else "n/a"))
        hc = geomean([ratio(med("pagoda_h1", "w1_pair_%d_ns" % s), med("pagoda", "w1_pair_%d_ns" % s))
                      for s in W1_SIZES])
        if hc:
            j["heap_harden_cost_small"] = round(hc, 4)

    slab = st("pagoda", "w8_slab_pair_ns")
    if slab.med is not None:
        print()
        print("8. slab kmem_cache_alloc+free pair (64 B objects): %s ns" % slab.fmt(0))

    # Callgrind: instructions per operation, minus the empty loop.
    cg = {}
    cg_cols = allocs + (["pagoda_h1"] if "pagoda_h1" in single else [])
    for exe in cg_cols:
        t = callgrind_totals(raw, exe)
        n = single.get(exe, {}).get("cg_pairs")
        if not t or not n:
            continue
        base = t.get("w1_empty", 0) / n
        for label in ["w1_%d" % s for s in W1_SIZES] + ["w8_slab"]:
            if label in t:
                cg.setdefault(exe, {})[label] = t[label] / n - base
    t = callgrind_totals(raw, "pmm")
    if t:
        base = t.get("pmm_empty", 0) / single["pmm"].get("cg_ops_pmm_empty", 1)
        for label, total in t.items():
            ops = single["pmm"].get("cg_ops_" + label)
            if ops and label != "pmm_empty":
                cg.setdefault("pmm", {})[label] = total / ops - base
    if cg:
        print()
        print("Instructions per operation (callgrind, fixed op count, empty loop subtracted)")
        print("%-26s" % "" + "".join("%12s" % a for a in cg_cols))
        for s in W1_SIZES:
            print("%-26s" % ("1. pair %d B" % s) +
                  "".join("%12s" % fnum(cg.get(a, {}).get("w1_%d" % s)) for a in cg_cols))
        if "w8_slab" in cg.get("pagoda", {}):
            print("%-26s" % "8. slab pair 64 B" +
                  "".join("%12s" % fnum(cg.get(a, {}).get("w8_slab")) for a in cg_cols))
        for label, v in sorted(cg.get("pmm", {}).items()):
            print("%-26s%12s" % ("7. " + label, fnum(v)))
        for exe, d in cg.items():
            for k, v in d.items():
                j["cg_%s_%s_instr" % (exe, k) if exe != "pmm" else "cg_%s_instr" % k] = round(v, 1)

    # The kernel's own figures.
    klog = os.path.join(raw, "kernel.log")
    if os.path.exists(klog):
        with open(klog, errors="replace") as f:
            lines = [l.rstrip("\r\n") for l in f if l.startswith("kbench")]
        print()
        print("In-kernel (QEMU TCG, fenced rdtsc):")
        for l in lines:
            print("  " + l)
            m = re.match(r"kbench: (\S+) +([0-9]+) cycles/op", l)
            if m:
                j["kernel_%s_cycles" % m.group(1)] = int(m.group(2))

    # Headline figures.
    def w1(a):
        return [med(a, "w1_pair_%d_ns" % s) for s in W1_SIZES]

    def small_ratio(other, mine="pagoda"):
        if mine not in runs or other not in runs:
            return None
        return geomean([ratio(p, o) for p, o in zip(w1(mine), w1(other))])

    head_fig = {
        "ratio_small_vs_mimalloc": small_ratio("mimalloc"),
        "ratio_small_vs_glibc": small_ratio("glibc"),
        "ratio_small_vs_jemalloc": small_ratio("jemalloc"),
        "ratio_small_vs_tcmalloc": small_ratio("tcmalloc"),
        "ratio_mix_vs_mimalloc": ratio(med("pagoda", "w3_mix_ns"), med("mimalloc", "w3_mix_ns")),
        "ratio_mix_vs_glibc": ratio(med("pagoda", "w3_mix_ns"), med("glibc", "w3_mix_ns")),
        "ratio_small_vs_mimalloc_harden1": small_ratio("mimalloc", "pagoda_h1"),
        "ratio_mix_vs_mimalloc_harden1": ratio(med("pagoda_h1", "w3_mix_ns"),
                                               med("mimalloc", "w3_mix_ns")),
        "ratio_large_holes_10000_vs_10": ratio(med("pagoda", "w4_large_holes_10000_ns"),
                                               med("pagoda", "w4_large_holes_10_ns")),
        "frag_footprint_over_live": single.get("pagoda", {}).get("w6_footprint_over_live"),
        "pmm_pair_ns": med("pmm", "pmm_pair_4g_ns"),
        "pmm_speedup_vs_bitscan_4g": ratio(med("pmm", "bitscan_pair_4g_ns"),
                                           med("pmm", "pmm_pair_4g_ns")),
        "pmm_ratio_256g_vs_128m": ratio(med("pmm", "pmm_pair_256g_ns"),
                                        med("pmm", "pmm_pair_128m_ns")),
        "slab_pair_ns": med("pagoda", "w8_slab_pair_ns"),
    }
    # The same comparison in instructions, which noise does not move.
    for other in ("mimalloc", "glibc"):
        if "pagoda" in cg and other in cg:
            head_fig["instr_ratio_small_vs_%s" % other] = geomean(
                [ratio(cg["pagoda"].get("w1_%d" % s), cg[other].get("w1_%d" % s))
                 for s in W1_SIZES])
    for k, v in head_fig.items():
        j[k] = round(v, 4) if v is not None else None

    targets = [
        ("ratio_small_vs_mimalloc", "<=", 1.0),
        ("ratio_mix_vs_mimalloc", "<=", 1.0),
        ("ratio_large_holes_10000_vs_10", "<=", 2.0),
        ("frag_footprint_over_live", "<=", 1.3),
        ("pmm_pair_ns", "<=", 10.0),
        ("pmm_speedup_vs_bitscan_4g", ">=", 100.0),
        ("pmm_ratio_256g_vs_128m", "<=", 2.0),
    ]
    print()
    print("Headline figures and their targets")
    met_all = True
    for k, v in head_fig.items():
        tgt = [t for t in targets if t[0] == k]
        verdict = ""
        if tgt:
            _, op, lim = tgt[0]
            if v is None:
                verdict = "target %s %g: n/a" % (op, lim)
                met_all = False
            else:
                ok = v <= lim if op == "<=" else v >= lim
                met_all &= ok
                verdict = "target %s %g: %s" % (op, lim, "met" if ok else "MISSED")
                j[k + "_target_met"] = ok
        print("  %-32s %10s   %s" % (k, fnum(v), verdict))
    j["runs"] = int(nruns) if str(nruns).isdigit() else nruns

    with open(json_path, "w") as f:
        json.dump(j, f, indent=1, sort_keys=True)
        f.write("\n")
    print()
    print("wrote %s (%d keys)" % (json_path, len(j)))


if __name__ == "__main__":
    main()
