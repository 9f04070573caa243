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
null FUSE filesystem against the same native calls.  They carry no goal.  An
ipcfs measure with a floor (FLOOR_OF) whose goal lies above what the floor
itself reaches against that measure's native figure is bound by the FUSE round
trip, not by ipcfs: it is judged on the share of the floor's request rate it
reaches in the same pass (goal FLOOR_SHARE_GOAL), never FAIL against a ratio no
FUSE filesystem could give.  A second table puts each such measure beside its
ceiling.
"""
import json
import sys


# The least share of the null floor's request rate a measure bound by the round
# trip must reach: ipcfs makes real kernel calls where the null filesystem makes none.
FLOOR_SHARE_GOAL = 0.5


def bound_by_floor(rec, floors):
    """The floor record when rec's goal is above the ratio its floor reaches, else None."""
    floor = floor_of(floors, rec)
    if not floor or rec["mode"] in ("floor", "passthrough") or not rec.get("goal") or not rec.get("native"):
        return None
    per_unit = REQUESTS_PER_UNIT.get(rec["measure"], 1)
    ceiling = floor["ipcfs"][0] / per_unit / rec["native"][0]
    return floor if ceiling < rec["goal"] else None


def judge(rec, floors):
    """(ratio text, goal text, verdict) for one record."""
    value, native, goal = rec["ipcfs"][0], rec.get("native"), rec.get("goal") or 0
    if rec["mode"] == "floor":
        return f"{value / native[0]:.2f}", "-", "ceiling"
    floor = bound_by_floor(rec, floors)
    if floor:
        reached = request_share(rec, floor)
        return (f"{value / native[0]:.2f}", f">= {FLOOR_SHARE_GOAL:.0%} of floor",
                f"{'pass' if reached >= FLOOR_SHARE_GOAL else 'FAIL'} ({reached:.0%} of floor)")
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
    of = " of tmpfs" if rec.get("goal_vs") == "tmpfs" else ""
    return f"{ratio:.2f}", f"{'<=' if lower else '>='} {goal:.2f}{of}", "pass" if ok else "FAIL"


# Each ipcfs measure, and the floor measure that bounds it (tests/bench/fusefloor.c).
FLOOR_OF = {
    "sem P+V uncontended": "floor: null write / semop",
    "sem hand-off": "floor: null hand-off / sem",
    "msg ping-pong 64B": "floor: null ping-pong / msg",
    "msg streaming 64B": "floor: null streaming / msg",
    "shm read 1024K": "floor: null read 1024K / memcpy",    # classic: read through the daemon
    "chan builtin 1 reader rec/s": "floor: null 64K records / pipes",
}


def ratio_of(rec):
    return rec["ipcfs"][0] / rec["native"][0]


def by_transport(records):
    """Records by (transport, measure): tests/bench/uring runs every measure and floor once per
    transport, and a floor's measure name ("floor: ...") never is an ipcfs measure's."""
    return {(r.get("transport"), r["measure"]): r for r in records}


def floor_of(floors, rec):
    return floors.get((rec.get("transport"), FLOOR_OF.get(rec["measure"], "")))


def floor_rows(records):
    """ipcfs's rate, its floor's (the ceiling), and the share of the floor's request rate reached."""
    floors = by_transport(records)
    rows = []
    for rec in records:
        floor = floor_of(floors, rec)
        if floor and rec["mode"] not in ("floor", "passthrough"):
            per_unit = REQUESTS_PER_UNIT.get(rec["measure"], 1)
            ceiling = floor["ipcfs"][0] / per_unit / rec["native"][0]
            judged = "share of floor" if bound_by_floor(rec, floors) else "ratio to native"
            rows.append((rec["measure"], rec["mode"], rec.get("transport") or "-",
                         f"{rec['ipcfs'][0]:.0f}", f"{floor['ipcfs'][0] / per_unit:.0f}",
                         f"{request_share(rec, floor):.0%}", f"{ratio_of(rec):.2f}",
                         f"{ceiling:.2f}", f"{rec['goal']:.2f}", judged))
    return rows


# The goals for FUSE over io_uring, measure by measure: it is worth turning on only if it
# beats /dev/fuse by half again, and a measure should reach most of its own null floor.
URING_GAIN_GOAL = 1.5   # io_uring / /dev/fuse, the same measure
URING_FLOOR_GOAL = 0.9  # of the io_uring null floor's ratio


# The floors that also make the kernel calls an ipcfs request must make
# (tests/bench/fusefloor.c /semop and /msg0: IPC_STAT, the call without
# waiting, and if it must wait, the call again in a waiting thread).
SYSCALL_FLOOR_OF = {
    "sem P+V uncontended": "floor: semop write / semop",
    "sem hand-off": "floor: semop hand-off / sem",
    "msg ping-pong 64B": "floor: msg ping-pong / msg",
    "msg streaming 64B": "floor: msg streaming / msg",
}

# FUSE requests per unit of each measure, against the floor's one per unit
# (a P+V pair is two writes; a hand-off or ping-pong round is four requests,
# a streamed message two, in both programs).
REQUESTS_PER_UNIT = {"sem P+V uncontended": 2}


def request_share(rec, floor):
    """The share of the floor's request rate that rec reaches, in the same pass."""
    return rec["ipcfs"][0] * REQUESTS_PER_UNIT.get(rec["measure"], 1) / floor["ipcfs"][0]


def share(rec, floor):
    return f"{request_share(rec, floor):.0%}" if rec and floor else "-"


# tests/bench/uring's passes, compared in pairs at one nice value of the daemon:
# (/dev/fuse, io_uring, io_uring with every caller on CPU 0 or None).
URING_PASSES = [("dev", "uring", "uring-cpu0"), ("dev-nice", "uring-nice", None)]


def uring_rows(records):
    """
    Each sem/msg measure over /dev/fuse and io_uring: the gain, and the share
    of the floor's request rate (not of its ratio to native: the natives of two
    programs differ by more than the noise of either FUSE figure).
    """
    by = by_transport(records)
    rows = []
    for dev_pass, uring_pass, pinned_pass in URING_PASSES:
        for measure, floor_measure in FLOOR_OF.items():
            row = uring_row(by, measure, floor_measure, dev_pass, uring_pass, pinned_pass)
            if row:
                rows.append(row)
    return rows


def uring_row(by, measure, floor_measure, dev_pass, uring_pass, pinned_pass):
    # Records of tests/bench/run's own passes have no transport: never take them for a pass.
    dev, uring, pinned = (by.get((t, measure)) if t else None
                          for t in (dev_pass, uring_pass, pinned_pass))
    if not dev or not uring:
        return None
    dev_floor, uring_floor = by.get((dev_pass, floor_measure)), by.get((uring_pass, floor_measure))
    syscall_floor = by.get((uring_pass, SYSCALL_FLOOR_OF.get(measure)))
    gain = uring["ipcfs"][0] / dev["ipcfs"][0]
    verdict = "pass" if gain >= URING_GAIN_GOAL else "FAIL"
    # Out of reach when the null floor, or one that makes ipcfs's kernel calls, gains less.
    for name, dev_bound, uring_bound in (
            ("floor", dev_floor, uring_floor),
            ("syscall floor", by.get((dev_pass, SYSCALL_FLOOR_OF.get(measure))), syscall_floor)):
        if verdict == "FAIL" and dev_bound and uring_bound:
            bound_gain = uring_bound["ipcfs"][0] / dev_bound["ipcfs"][0]
            if bound_gain < URING_GAIN_GOAL:
                verdict = f"out of reach ({name} {bound_gain:.2f})"
    floor_verdict = "-"
    if uring_floor:
        floor_verdict = "pass" if request_share(uring, uring_floor) >= URING_FLOOR_GOAL else "FAIL"
    if floor_verdict == "FAIL" and syscall_floor:
        # A server that makes only ipcfs's kernel calls, against the null one.
        reach = syscall_floor["ipcfs"][0] / uring_floor["ipcfs"][0]
        if reach < URING_FLOOR_GOAL:
            floor_verdict = f"out of reach (syscall floor {reach:.0%})"
    return (measure, str(uring.get("nice", 0)), f"{dev['ipcfs'][0]:.0f}", f"{uring['ipcfs'][0]:.0f}",
            f"{gain:.2f}", verdict, share(uring, uring_floor), floor_verdict,
            share(uring, syscall_floor), share(pinned, pinned and by.get((pinned_pass, floor_measure))))


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
    floors = by_transport(records)
    for rec in records:
        ratio, goal, verdict = judge(rec, floors)
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
    failed = sum(1 for r in rows[1:] if r[-1].startswith("FAIL"))
    judged_by_floor = sum(1 for r in rows[1:] if "of floor" in r[-1])
    ceilings = sum(1 for r in rows[1:] if r[-1] == "ceiling")
    print(f"\n{len(records)} measures ({ceilings} of them floors, with no goal), {failed} below"
          f" their goal; {judged_by_floor} bound by the FUSE round trip and judged on their share of"
          f" the floor (goal >= {FLOOR_SHARE_GOAL:.0%})")
    beside = floor_rows(records)
    if beside:
        print("\n# each ipcfs measure beside its floor, the null FUSE filesystem in the same pass:"
              " rates per unit, the share of the floor's request rate, and the ratio to native"
              " against the ratio the floor reaches (its ceiling); a goal above the ceiling is"
              " judged on the share")
        print_rows([("measure", "mode", "transport", "ipcfs", "floor", "share", "ratio", "ceiling",
                     "goal", "judged on")] + beside)
    uring = uring_rows(records)
    if uring:
        print(f"\n# FUSE over io_uring, each pair of passes at one nice value of the daemon (and of"
              f" the floor's server): gain over /dev/fuse (goal >= {URING_GAIN_GOAL}) and share"
              f" of the io_uring null floor's request rate (goal >= {URING_FLOOR_GOAL:.0%});"
              " then the share of the floor that makes the same kernel calls, and of the null"
              " floor with every caller on CPU 0")
        print_rows([("measure", "nice", "dev", "io_uring", "gain", "", "of floor", "",
                     "of syscall floor", "of floor, CPU 0")] + uring)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench.json")
