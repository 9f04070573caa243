# SPDX-License-Identifier: GPL-2.0-only
"""Print build/bench.json (one JSON object per line, as the benchmarks write
it) as one table: measure, ipcfs, native, ratio, goal, pass or FAIL.

    /usr/bin/python3 tests/bench/table.py [FILE]

Ratios are ipcfs / native.  For rates (the default) higher is better and the
goal is a minimum; for times ("better": "lower") lower is better and the goal
a maximum.  A record without a native figure (daemon RSS) is judged on its own
value.  A goal of 0 means none.
"""
import json
import sys


def judge(rec):
    """(ratio text, goal text, verdict) for one record."""
    value, native, goal = rec["ipcfs"][0], rec.get("native"), rec.get("goal") or 0
    lower = rec.get("better") == "lower"
    if native is None:
        return "", f"< {goal:g}", "pass" if value < goal else "FAIL"
    ratio = value / native[0]
    if not goal:
        return f"{ratio:.2f}", "-", ""
    ok = ratio <= goal if lower else ratio >= goal
    return f"{ratio:.2f}", f"{'<=' if lower else '>='} {goal:.2f}", "pass" if ok else "FAIL"


def spread(fig):
    return f"{fig[0]:.1f} [{fig[1]:.1f}-{fig[2]:.1f}]"


def main(path):
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    rows = [("measure", "mode", "unit", "ipcfs [min-max]", "native [min-max]", "ratio", "goal",
             "")]
    for rec in records:
        ratio, goal, verdict = judge(rec)
        native = rec.get("native")
        rows.append((rec["measure"], rec["mode"], rec["unit"], spread(rec["ipcfs"]),
                     spread(native) if native else "-", ratio, goal, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    failed = sum(1 for r in rows[1:] if r[-1] == "FAIL")
    print(f"\n{len(records)} measures, {failed} below their goal")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench.json")
