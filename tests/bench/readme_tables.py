#!/usr/bin/env python3
"""Print the README's "## Benchmarks" tables in markdown from build/bench.json.

    python3 tests/bench/readme_tables.py build/bench.json

The JSON is the flat object tests/bench/report.py writes: per-allocator
medians as "<exe>_<key>" (pagoda_w1_pair_16_ns, pmm_pmm_pair_4g_ns, ...),
callgrind counts as "cg_<exe>_<label>_instr", the in-kernel figures as
"kernel_..._cycles", and the headline ratios (ratio_small_vs_best, ...).
Output: the workload table, the page-source sentence, the memory table, the
PMM table, the threads table, the kernel paragraph and the targets table, in
that order. A key
a row needs that the JSON lacks prints "n/a"; nothing here crashes on a
partial (BENCH_QUICK=1, BENCH_KERNEL=0, no callgrind) run.

Bold marks the best peer (glibc, mimalloc, jemalloc, tcmalloc) of each
figure; the last column is Pagoda ÷ that peer. A band row (instructions over
a range of sizes) takes, as report.py does, the geometric mean over the
sizes of Pagoda ÷ the best peer at each size. Stdlib only.
"""
import json
import math
import sys
import textwrap

PEERS = ["glibc", "mimalloc", "jemalloc", "tcmalloc"]
ALLOCS = ["pagoda"] + PEERS
SMALL = [16, 64, 256, 1024]
MEDIUM = [2048, 3000, 4096, 8192, 16384, 65536]
LARGE = [262144, 1048576]


def num(v):
    """A figure as the README writes it: 3 significant digits, thousands
    separated, millions spelled out; None is n/a."""
    if v is None:
        return "n/a"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if abs(v) >= 1e6:
        return "%s million" % ("%.3g" % (v / 1e6))
    if abs(v) >= 100:
        return "{:,}".format(int(round(v)))
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def count(v):
    """A count (pages, per-1,000 events): whole numbers without decimals."""
    if v is not None and not isinstance(v, bool) and v == int(v):
        return "{:,}".format(int(v))
    return num(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def geomean(xs):
    if not xs or any(x is None or x <= 0 for x in xs):
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def wrap(text):
    """A paragraph wrapped as the README's prose is (95 columns)."""
    return textwrap.fill(text, width=95, break_long_words=False, break_on_hyphens=False)


def row(cells):
    return "| " + " | ".join(cells) + " |"


def header(cols):
    return row(cols) + "\n" + "|" + "---|" * len(cols)


class Bench:
    def __init__(self, j):
        self.j = j

    def get(self, key):
        v = self.j.get(key)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def best(self, vals):
        """(value, peer) of the lowest peer figure in {peer: value}, or (None, None)."""
        have = [(v, p) for p, v in vals.items() if p in PEERS and v is not None]
        return min(have) if have else (None, None)


def composite(b, getters):
    """Cells and the ratio cell of a row with one or more figures per
    allocator ("a / b"): getters[i](alloc) gives figure i. Each figure's
    best peer is bold; the ratio is Pagoda's figure ÷ that peer's."""
    vals = [{a: g(a) for a in ALLOCS} for g in getters]
    bests = [b.best(v) for v in vals]
    cells = []
    for a in ALLOCS:
        parts = [num(v[a]) for v in vals]
        bold = [a in PEERS and best[1] == a for best in bests]
        if all(bold):
            cells.append("**%s**" % " / ".join(parts))
        else:
            cells.append(" / ".join("**%s**" % p if bo else p for p, bo in zip(parts, bold)))
    ratios = " / ".join(num(ratio(v["pagoda"], best[0])) for v, best in zip(vals, bests))
    return cells, ratios


def workload_table(b):
    out = [header(["workload"] + ["Pagoda", "glibc", "mimalloc", "jemalloc", "tcmalloc"] +
                  ["Pagoda ÷ best"])]

    def med(key):
        return lambda a: b.get("%s_%s" % (a, key))

    def cgi(label):
        return lambda a: b.get("cg_%s_%s_instr" % (a, label))

    rows = [("1. pair {:,} B".format(s), [med("w1_pair_%d_ns" % s)])
            for s in [16, 256, 1024, 2048, 3000, 4096, 16384, 65536, 262144, 1048576]]
    rows += [("1. 64 B aligned 64", [med("w1_aligned_64_64_ns")]),
             ("1. 4,096 B aligned 4,096", [med("w1_aligned_4096_4096_ns")]),
             ("2. LIFO 100 × 16 B", [med("w2_lifo_100_16_ns")]),
             ("2. FIFO 100 × 16 B", [med("w2_fifo_100_16_ns")]),
             ("2. FIFO 1600 × 64 B", [med("w2_fifo_1600_64_ns")]),
             ("3. mix 8 B–2 KiB", [med("w3_mix_ns")]),
             ("3. mix, total ÷ steps", [med("w3_mix_mean_ns")]),
             ("3. mix, p99 / p99.9 of a step", [med("w3_mix_lat_p99_ns"), med("w3_mix_lat_p999_ns")]),
             ("3w. mix 8 B–64 KiB", [med("w3_mix_wide_ns")]),
             ("3w. wide mix, p99.9 of a step", [med("w3_mix_wide_lat_p999_ns")]),
             ("4. large, 10 / 10,000 holes", [med("w4_large_holes_10_ns"),
                                              med("w4_large_holes_10000_ns")]),
             ("5. larson-style server", [med("w5_larson_ns")])]
    for label, getters in rows:
        cells, r = composite(b, getters)
        out.append(row([label] + cells + [r]))

    # Instructions over the small band: each allocator's range, the best peer
    # the one with the lowest geometric mean, the ratio per size as report.py.
    per = {a: [b.get("cg_%s_w1_%d_instr" % (a, s)) for s in SMALL] for a in ALLOCS}
    gm = {a: geomean(per[a]) for a in ALLOCS}
    best_p = b.best(gm)[1]
    band = []
    for i, s in enumerate(SMALL):
        bv = b.best({p: per[p][i] for p in PEERS})[0]
        band.append(ratio(per["pagoda"][i], bv))
    cells = []
    for a in ALLOCS:
        vs = per[a]
        if any(v is None for v in vs):
            txt = "n/a"
        else:
            lo, hi = num(min(vs)), num(max(vs))
            txt = lo if lo == hi else "%s–%s" % (lo, hi)
        cells.append("**%s**" % txt if a == best_p else txt)
    out.append(row(["instructions, pair 16–1,024 B"] + cells + [num(geomean(band))]))
    cells, r = composite(b, [cgi("w1_4096"), cgi("w1_65536"), cgi("w1_262144"), cgi("w1_1048576")])
    out.append(row(["instructions, pair 4 KiB / 64 KiB / 256 KiB / 1 MiB"] + cells + [r]))
    cells, r = composite(b, [cgi("w3")])
    out.append(row(["instructions, mix step"] + cells + [r]))
    return "\n".join(out)


def page_source(b):
    def pages(s):
        g = b.get("pagoda_w1_pair_%d_grow_pages_per_op" % s)
        sh = b.get("pagoda_w1_pair_%d_shrink_pages_per_op" % s)
        if g is None or sh is None:
            return "n/a"
        return count(g) if count(g) == count(sh) else "%s grown, %s given back" % (count(g), count(sh))

    med = [pages(s) for s in MEDIUM]
    medtxt = med[0] if len(set(med)) == 1 else ", ".join(
        "%s at {:,} B".format(s) % p for p, s in zip(med, MEDIUM))
    holes = []
    for h in (10, 1000, 10000):
        g = b.get("pagoda_w4_large_holes_%d_grow_pages_per_op" % h)
        sh = b.get("pagoda_w4_large_holes_%d_shrink_pages_per_op" % h)
        holes.append("%s / %s with {:,} holes".format(h) % (count(g), count(sh)))
    return wrap("Pagoda's page source per pair (pages grown / given back): %s from 2 KiB to 64 KiB, "
            "%s at 256 KiB and %s at 1 MiB; workload 4 (large blocks): %s."
            % (medtxt, pages(262144), pages(1048576), ", ".join(holes)))


def memory_table(b):
    out = [header(["memory", "Pagoda", "glibc", "mimalloc", "jemalloc", "tcmalloc"])]

    def mrow(label, key, pagoda_extra=None):
        vals = {a: b.get("%s_%s" % (key, a)) for a in ALLOCS}
        bp = b.best(vals)[1]
        cells = []
        for a in ALLOCS:
            t = num(vals[a])
            if a == "pagoda" and pagoda_extra:
                t += pagoda_extra
            cells.append("**%s**" % t if a == bp else t)
        out.append(row([label] + cells))

    mrow("peak RSS growth ÷ peak live, mix 8 B–2 KiB", "rss_over_live",
         " (held: %s)" % num(b.get("frag_pagoda")))
    mrow("the same, wide mix 8 B–64 KiB", "rss_over_live_wide")
    mrow("burst of 100,000, all freed, after the release call (Pagoda: none) (KiB)",
         "burst_retained_kib")
    mrow("burst, 1% surviving (KiB)", "burst1_retained_kib")
    return "\n".join(out)


def pmm_table(b):
    out = [header(["PMM, ns per operation", "Pagoda", "flat bitmap", "bit-by-bit scan"])]
    cols = ["pmm", "flat", "bitscan"]

    def prow(label, keys, fmt=None):
        """keys[i] is a format with %s for the column's prefix, or None where
        the column has no such figure; one bold per figure, the lowest."""
        getters = [lambda c, k=k: b.get("pmm_" + k % c) if k else None for k in keys]
        vals = [{c: g(c) for c in cols} for g in getters]
        cells = []
        for c in cols:
            parts = []
            for v in vals:
                have = [x for x in v.values() if x is not None]
                t = (fmt or num)(v[c])
                if v[c] is None:
                    parts.append(None)
                    continue
                parts.append("**%s**" % t if len(have) > 1 and v[c] == min(have) else t)
            shown = [p for p in parts if p is not None]
            cells.append(" / ".join(p if p is not None else "n/a" for p in parts) if shown else "")
        out.append(row([label] + cells))

    prow("lower half used, alloc(1)+free, 4 GiB / 256 GiB", ["%s_pair_4g_ns", "%s_pair_256g_ns"])
    prow("lower half used, alloc(16)+free, 4 GiB", ["%s_contig16_4g_ns"])
    prow("lower half used, alloc(512)+free, 4 GiB", ["%s_contig512_4g_ns"])
    for m, name in (("128m", "128 MiB, total ÷ steps (fastest slice)"), ("4g", "4 GiB"),
                    ("64g", "64 GiB"), ("256g", "256 GiB")):
        vals = {c: (b.get("pmm_%s_random_%s_mean_ns" % (c, m)), b.get("pmm_%s_random_%s_ns" % (c, m)))
                for c in ("pmm", "flat")}
        cells = []
        for c in ("pmm", "flat"):
            t = []
            for i in (0, 1):
                have = [v[i] for v in vals.values() if v[i] is not None]
                x = num(vals[c][i])
                t.append("**%s**" % x if len(have) > 1 and vals[c][i] == min(have) else x)
            cells.append("%s (%s)" % tuple(t))
        out.append(row(["random steady state %s" % name] + cells + [""]))
    prow("fragmented, 16-frame run, 4 GiB / 256 GiB",
         ["%s_frag_contig16_4g_ns", "%s_frag_contig16_256g_ns"])
    prow("fragmented, 512-frame run, 4 GiB / 256 GiB",
         ["%s_frag_contig512_4g_ns", "%s_frag_contig512_256g_ns"])
    first = [b.get("pmm_pmm_frag_contig16_%s_first_ns" % m) for m in ("4g", "256g")]
    out.append(row(["fragmented, first 16-frame search after set-up, 4 GiB / 256 GiB",
                    " / ".join(num(v) for v in first), "", ""]))
    out.append(row(["instructions, alloc(1)+free / alloc(16)+free, 4 GiB",
                    "%s / %s" % (num(b.get("cg_pmm_pair_4g_instr")),
                                 num(b.get("cg_pmm_contig16_4g_instr"))), "",
                    num(b.get("cg_bitscan_pair_4g_instr"))]))
    return "\n".join(out)


def kernel_paragraph(b):
    def cyc(s):
        return b.get("kernel_kmalloc_pair_cycles_%d" % s)

    def span(sizes):
        vs = [cyc(s) for s in sizes]
        if any(v is None for v in vs):
            return "n/a"
        lo, hi = num(min(vs)), num(max(vs))
        return lo if lo == hi else "%s–%s" % (lo, hi)

    moves = []
    for s in SMALL + MEDIUM + LARGE:
        g = b.get("kernel_kmalloc_pair_%d_grows_per_1000" % s)
        sh = b.get("kernel_kmalloc_pair_%d_shrinks_per_1000" % s)
        moves.append((s, g, sh))
    if any(g is None or sh is None for _, g, sh in moves):
        src = "heap grows and shrinks per 1,000 pairs: n/a"
    elif all(g == 0 and sh == 0 for _, g, sh in moves):
        src = "no pair grows or shrinks the heap: 0 of either per 1,000 pairs at every size"
    else:
        src = "heap grows / shrinks per 1,000 pairs: " + ", ".join(
            "%s / %s at {:,} B".format(s) % (count(g), count(sh)) for s, g, sh in moves if g or sh) + \
            ", none at the other sizes"
    return wrap("In the kernel (`bench` on the command line, or the monitor's `bench`), fenced `rdtsc` "
            "on the real heap, PMM and page tables, under QEMU TCG (relative figures only): kmalloc "
            "pair %s cycles from 16 B to 2 KiB, %s from 3,000 B to 64 KiB, %s at 256 KiB and %s at "
            "1 MiB (%s); PMM pair %s, 16-frame run %s, 512-frame run %s; slab pair %s. They are "
            "`kernel_kmalloc_pair_cycles_<size>` in `build/bench.json`."
            % (span(SMALL + [2048]), span(MEDIUM[1:]), num(cyc(262144)), num(cyc(1048576)), src,
               num(b.get("kernel_pmm_pair_cycles")), num(b.get("kernel_pmm_contig16_cycles")),
               num(b.get("kernel_pmm_contig512_cycles")), num(b.get("kernel_slab_pair_64_cycles"))))


def mt_table(b):
    """The threads: ns per op at 1 / 2 threads (wall clock over all threads),
    the scaling, and one thread through the thread-safe path."""
    wls = [("pairs", "pairs 16–1,024 B"), ("mix", "mix 8 B–2 KiB"),
           ("larson", "larson-style, half freed by the other thread")]
    title = "threads, ns per op (1 / 2 threads)"
    if b.j.get("mt_pagoda_serialized"):
        title += "; Pagoda serialized by the bench"
    out = [header([title] + ["Pagoda", "glibc", "mimalloc", "jemalloc", "tcmalloc"] +
                  ["Pagoda ÷ best"])]

    def best_row(vals, high):
        """One figure per allocator, the best peer bold (highest if `high`)."""
        have = [(v, p) for p, v in vals.items() if p in PEERS and v is not None]
        bp = (max(have) if high else min(have))[1] if have else None
        cells = ["**%s**" % num(vals[a]) if a == bp else num(vals[a]) for a in ALLOCS]
        return cells

    for wl, label in wls:
        cells, _ = composite(b, [lambda a, n=n: b.get("mt_%s_mt_%s_%dt_ns" % (a, wl, n))
                                 for n in (1, 2)])
        r = "%s / %s" % (num(b.get("mt_ratio_1t_pagoda_vs_best_%s" % wl)),
                         num(b.get("mt_ratio_2t_vs_best_%s" % wl)))
        out.append(row([label] + cells + [r]))
        sc = {a: b.get("mt_scaling_2t_%s_%s" % (a, wl)) for a in ALLOCS}
        out.append(row(["  scaling, 1 → 2 threads"] + best_row(sc, True) + [""]))
    sc = {a: b.get("mt_scaling_2t_%s" % a) for a in ALLOCS}
    out.append(row(["scaling, geometric mean (`mt_scaling_2t_<alloc>`)"] +
                   best_row(sc, True) + [""]))
    vb = {a: b.get("mt_ratio_2t_%s_vs_best" % a) for a in ALLOCS}
    out.append(row(["2 threads ÷ the best other, geometric mean"] + best_row(vb, False) +
                   [num(b.get("mt_ratio_2t_vs_best"))]))
    clean = {a: b.get("mt_clean_fraction_2t_%s" % a) for a in ALLOCS}
    out.append(row(["2 threads: clean slices (`mt_clean_fraction_2t_<alloc>`)"] +
                   [num(clean[a]) for a in ALLOCS] + [""]))
    cost = {a: b.get("mt_smp_cost_1t_%s" % a) for a in ALLOCS}
    out.append(row(["one thread, thread-safe path ÷ single-thread pair (`mt_smp_cost_1t_<alloc>`)"] +
                   [num(cost[a]) for a in ALLOCS] + [""]))
    return "\n".join(out)


def targets_table(b):
    out = [header(["target", "measured", "goal", ""])]

    def trow(key, label, goal, goal_txt, extra="", at_least=False):
        v = b.get(key)
        g = goal() if callable(goal) else goal
        if v is None or g is None:
            verdict = "n/a"
        else:
            verdict = "met" if (v >= g if at_least else v <= g) else "missed"
        out.append(row([label, num(v) + extra, goal_txt, verdict]))

    def paren(fmt, key):
        v = b.get(key)
        return " (%s)" % (fmt % num(v)) if v is not None else ""

    trow("ratio_small_vs_best", "`ratio_small_vs_best` (16–1,024 B)", 1.0, "≤ 1.0",
         paren("instructions %s", "instr_small_vs_best"))
    trow("ratio_medium_vs_best", "`ratio_medium_vs_best` (2–64 KiB)", 1.0, "≤ 1.0",
         paren("instructions %s", "instr_medium_vs_best"))
    trow("ratio_large_vs_best", "`ratio_large_vs_best` (256 KiB–1 MiB)", 1.0, "≤ 1.0",
         paren("instructions %s", "instr_large_vs_best"))
    trow("ratio_mix_vs_best", "`ratio_mix_vs_best`", 1.0, "≤ 1.0",
         paren("total ÷ steps: %s", "ratio_mix_vs_best_mean"))
    trow("ratio_mix_wide_vs_best", "`ratio_mix_wide_vs_best`", 1.0, "≤ 1.0",
         paren("total ÷ steps: %s", "ratio_mix_wide_vs_best_mean"))
    trow("p999_mix_vs_best", "`p999_mix_vs_best`", 1.0, "≤ 1.0",
         paren("p99: %s", "p99_mix_vs_best"))
    trow("instr_small_vs_best", "`instr_small_vs_best`", 1.0, "≤ 1.0")

    peer_rss = {p: b.get("rss_over_live_%s" % p) for p in PEERS}
    bv, bp = b.best(peer_rss)
    trow("rss_over_live_pagoda", "`rss_over_live_pagoda`", bv, "≤ best peer",
         " against %s (%s)" % (num(bv), bp) if bp else " against n/a")
    glibc = b.get("burst_retained_kib_glibc")
    trow("burst_retained_kib_pagoda", "`burst_retained_kib_pagoda`", glibc, "≤ glibc",
         " against %s (glibc)" % num(glibc) + ", no release call")
    trow("pmm_random_vs_flat_4g", "`pmm_random_vs_flat_4g`", 1.0, "≤ 1.0")
    trow("pmm_random_vs_flat_256g", "`pmm_random_vs_flat_256g`", 1.0, "≤ 1.0")
    trow("pmm_frag_contig16_ns", "`pmm_frag_contig16_ns`", 2000, "≤ 2,000")
    trow("pmm_frag_contig512_ns", "`pmm_frag_contig512_ns`", 2000, "≤ 2,000")
    trow("ratio_checked_vs_unchecked_small", "`ratio_checked_vs_unchecked_small`", 1.10, "≤ 1.10",
         paren("instructions %s", "instr_checked_vs_unchecked_small"))
    trow("ratio_checked_vs_unchecked_mix", "`ratio_checked_vs_unchecked_mix`", 1.10, "≤ 1.10",
         paren("instructions %s", "instr_checked_vs_unchecked_mix") +
         paren("cold: %s", "ratio_checked_vs_unchecked_mix_cold"))
    ser = " (Pagoda serialized by the bench)" if b.j.get("mt_pagoda_serialized") else ""
    trow("mt_scaling_2t_pagoda", "`mt_scaling_2t_pagoda`", 1.6, "≥ 1.6",
         paren("total ÷ ops: %s", "mt_scaling_2t_pagoda_mean") + ser, at_least=True)
    trow("mt_ratio_2t_vs_best", "`mt_ratio_2t_vs_best`", 1.0, "≤ 1.0",
         paren("total ÷ ops: %s", "mt_ratio_2t_vs_best_mean") + ser)
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: readme_tables.py build/bench.json")
    try:
        with open(sys.argv[1]) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("readme_tables.py: cannot read %s: %s" % (sys.argv[1], e))
    if not isinstance(j, dict):
        sys.exit("readme_tables.py: %s is not a JSON object" % sys.argv[1])
    b = Bench(j)
    print("\n\n".join([workload_table(b), page_source(b), memory_table(b), pmm_table(b),
                       mt_table(b), kernel_paragraph(b), targets_table(b)]))


if __name__ == "__main__":
    main()
