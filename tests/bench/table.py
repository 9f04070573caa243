# SPDX-License-Identifier: GPL-2.0-only
"""Print build/bench.json (one JSON object per line, as the benchmarks write
it) as one table: measure, ipcfs, native, ratio, goal, pass or FAIL.

    /usr/bin/python3 tests/bench/table.py [FILE]

Ratios are ipcfs / native ("versus" names what stands for native where it is
something else: pipes, tmpfs, memcpy).  A record with "tmpfs" (/shm file I/O)
also shows the same operation on a tmpfs file and that ratio; with "goal_vs":
"tmpfs" its goal is judged against tmpfs.  For rates (the default) higher is better and the
goal is a minimum; for times ("better": "lower") lower is better and the goal
a maximum.  A record without a native figure (daemon RSS) is judged on its own
value.  A goal of 0 means none.

Records of mode "floor" (tests/bench/fusefloor) are ceilings, not ipcfs: the
null FUSE filesystem against the same native calls.  Their verdict says
whether the goal is reachable through /dev/fuse at all, and a second table
puts each ipcfs measure beside its ceiling.
"""
import json
import sys


def judge(rec):
    """(ratio text, goal text, verdict) for one record."""
    value, native, goal = rec["ipcfs"][0], rec.get("native"), rec.get("goal") or 0
    lower = rec.get("better") == "lower"
    if rec.get("goal_vs") == "tmpfs":
        native = rec["tmpfs"]
    if native is None and not goal:
        return "", "-", ""      # reported, not judged
    if native is None:
        return "", f"< {goal:g}", "pass" if value < goal else "FAIL"
    ratio = value / native[0]
    if not goal:
        return f"{ratio:.2f}", "-", ""
    ok = ratio <= goal if lower else ratio >= goal
    if rec["mode"] == "floor":
        return f"{ratio:.2f}", f">= {goal:.2f}", "reachable" if ok else "out of reach"
    of = " of tmpfs" if rec.get("goal_vs") == "tmpfs" else ""
    return f"{ratio:.2f}", f"{'<=' if lower else '>='} {goal:.2f}{of}", "pass" if ok else "FAIL"


# Each ipcfs measure, and the floor measure that bounds it (tests/bench/fusefloor.c).
FLOOR_OF = {
    "sem P+V uncontended": "floor: null write / semop",
    "sem hand-off": "floor: null hand-off / sem",
    "msg ping-pong 64B": "floor: null ping-pong / msg",
    "msg streaming 64B": "floor: null streaming / msg",
    "shm read 1024K": "floor: null read 1024K / memcpy",    # classic: read through the daemon
}


def ratio_of(rec):
    return rec["ipcfs"][0] / rec["native"][0]


def floor_rows(records):
    """ipcfs ratio, the floor's ratio (the ceiling), and the share of it ipcfs reaches."""
    floors = {r["measure"]: r for r in records if r["mode"] == "floor"}
    rows = []
    for rec in records:
        floor = floors.get(FLOOR_OF.get(rec["measure"], ""))
        if floor and rec["mode"] not in ("floor", "passthrough"):
            rows.append((rec["measure"], f"{ratio_of(rec):.2f}", f"{ratio_of(floor):.2f}",
                         f"{ratio_of(rec) / ratio_of(floor):.0%}", f"{rec['goal']:.2f}"))
    return rows


def spread(fig):
    return f"{fig[0]:.1f} [{fig[1]:.1f}-{fig[2]:.1f}]"


def print_rows(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main(path):
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    rows = [("measure", "mode", "unit", "ipcfs [min-max]", "native [min-max]", "tmpfs", "ratio",
             "goal", "")]
    for rec in records:
        ratio, goal, verdict = judge(rec)
        native, versus, tmpfs = rec.get("native"), rec.get("versus", "native"), rec.get("tmpfs")
        native_cell = spread(native) if native else "-"
        if native and versus != "native":
            native_cell = f"{versus} {native_cell}"
        if tmpfs and rec.get("goal_vs") != "tmpfs":     # the ratio column is then vs native
            tmpfs_cell = f"{tmpfs[0]:.0f} ({rec['ipcfs'][0] / tmpfs[0]:.2f})"
        elif tmpfs:
            tmpfs_cell = f"{tmpfs[0]:.0f} (judged)"
            native_cell += f" ({rec['ipcfs'][0] / native[0]:.2f})"
        else:
            tmpfs_cell = "-"
        rows.append((rec["measure"], rec["mode"], rec["unit"], spread(rec["ipcfs"]), native_cell,
                     tmpfs_cell, ratio, goal, verdict))
    print_rows(rows)
    failed = sum(1 for r in rows[1:] if r[-1] == "FAIL")
    print(f"\n{len(records)} measures, {failed} below their goal")
    beside = floor_rows(records)
    if beside:
        print("\n# each ipcfs ratio beside its ceiling, the null FUSE filesystem's ratio")
        print_rows([("measure", "ipcfs ratio", "ceiling", "ipcfs / ceiling", "goal")] + beside)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench.json")
