"""Helpers shared by tests/bench/report.py and report_pmm.py: a median
(min-max) statistic, number formatting, geometric means and safe ratios."""
import math
import statistics


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
