"""Medians of the runs bench/*.sh record: one line per run, name TAB wall TAB user TAB sys TAB
max RSS (KiB), as /usr/bin/time -f "%e %U %S %M" prints them."""
import collections
import statistics


def read_medians(raw):
    """(runs per case, {case: (median wall s, median user+sys s, max RSS KiB)}) in file order."""
    runs = collections.OrderedDict()
    for line in open(raw):
        name, wall, user, sys_, rss = line.rstrip("\n").split("\t")
        runs.setdefault(name, []).append((float(wall), float(user) + float(sys_), int(rss)))
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v),
               max(r[2] for r in v)) for k, v in runs.items()}
    return len(next(iter(runs.values()))), med


def cell(name):
    """A case's name in a Markdown table cell."""
    return name.replace("|", "\\|")
