# SPDX-License-Identifier: GPL-2.0-only
"""Listing at scale: `ls -l` and `stat` of every file through ipcfs against
`ipcs`, for 1,000 and 10,000 objects of each kind, and the daemon's RSS; how
soon an object removed behind ipcfs's back after a listing is gone from the
kernel's cache (goal: 10 ms), and what the watcher that sees to it costs.

    /usr/bin/python3 tests/bench/listing.py [--quick] [--json FILE]

It runs in an IPC namespace of its own (it re-executes itself under
`unshare --ipc`): the objects and the raised limits (kernel.shmmni, msgmni,
sem) never touch the host's, and the limits are restored before it ends all
the same.  Every figure is the median of 5 runs, [min-max] shown; ratios are
ipcfs time / ipcs time (lower is better; goal: ls -l at most 3x ipcs).
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from table import judge  # noqa: E402  (tests/bench is this script's own directory)

REPS = 5
KINDS = {"shm": "-m", "sem": "-s", "msg": "-q"}
LIMITS = {"shm": ("kernel/shmmni", None), "msg": ("kernel/msgmni", None),
          "sem": ("kernel/sem", 3)}          # sem: SEMMNI is the 4th field


def timed(fn):
    """Median, min and max seconds of REPS runs of fn."""
    runs = []
    for _ in range(REPS):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    runs.sort()
    return runs[REPS // 2], runs[0], runs[-1]


def run_quiet(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def stat_all(directory):
    for name in os.listdir(directory):
        os.stat(os.path.join(directory, name))


def raise_limits(count):
    """Make room for count objects of each kind; return what to restore."""
    saved = {}
    for path, field in LIMITS.values():
        with open(f"/proc/sys/{path}") as f:
            saved[path] = f.read()
        values = saved[path].split()
        i = field or 0
        values[i] = str(max(int(values[i]), count + 64))
        if path == "kernel/sem":        # SEMMNS: semaphores in all
            values[1] = str(max(int(values[1]), count + 64))
        with open(f"/proc/sys/{path}", "w") as f:
            f.write(" ".join(values))
    return saved


def restore_limits(saved):
    for path, text in saved.items():
        with open(f"/proc/sys/{path}", "w") as f:
            f.write(text)


def create(kind, count, made):
    import sysv_ipc
    for i in range(count - len(made[kind])):
        key = 0x5000000 + len(made[kind])
        if kind == "shm":
            obj = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
            obj.detach()
        elif kind == "sem":
            obj = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX)
        else:
            obj = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX)
        made[kind].append(obj)


def remove_all(made):
    for objs in made.values():
        for obj in objs:
            obj.remove()
        objs.clear()


class Report:
    """Table lines as the run goes, judged as table.py judges the JSON records."""

    def __init__(self, json_path):
        self.json = open(json_path, "a") if json_path else None

    def line(self, measure, unit, ipcfs, native, goal):
        """One table line and its JSON record; ipcfs and native are [median, min, max]."""
        rec = self.record(measure, unit, ipcfs, native, goal)
        ratio, goal_text, verdict = judge(rec, {})     # listing measures have no FUSE floor
        against = f"ipcs {native[0]:12.1f} [{native[1]:.1f}-{native[2]:.1f}]" if native else ""
        text = (f"{measure:<28} {ipcfs[0]:12.1f} {unit:<8} [{ipcfs[1]:.1f}-{ipcfs[2]:.1f}]  "
                f"{against}  ratio {ratio or '-':>5}  goal {goal_text}  {verdict}")
        print(text.rstrip(), flush=True)

    def record(self, measure, unit, ipcfs, native, goal):
        rec = {"measure": measure, "mode": "listing", "unit": unit, "ipcfs": ipcfs,
               "native": native, "goal": goal, "better": "lower"}
        if self.json:
            self.json.write(json.dumps(rec) + "\n")
            self.json.flush()
        return rec


def in_ms(seconds):
    return [v * 1000 for v in seconds]


def daemon_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def removal_seen_after(m, kind, made, trials=15):
    """ms from removing a listed object (natively) until stat() through ipcfs says ENOENT."""
    directory, seen = m.p(kind), []
    for _ in range(trials):
        obj = made[kind].pop()
        path = os.path.join(directory, f"0x{obj.key:08x}")
        run_quiet(["ls", "-l", directory])
        os.stat(path)                   # the listing's entry, from the kernel's cache
        started = time.perf_counter()
        obj.remove()
        while True:
            try:
                os.stat(path)
            except FileNotFoundError:
                break
        seen.append((time.perf_counter() - started) * 1000)
    seen.sort()
    return [seen[len(seen) // 2], seen[0], seen[-1]]


def watcher_cpu(m, directory, window=1.2):
    """The daemon's CPU, % of a core, from an `ls -l` until the listing's cache has expired."""
    before, started = daemon_cpu_seconds(m.proc.pid), time.perf_counter()
    run_quiet(["ls", "-l", directory])
    time.sleep(window)
    spent = daemon_cpu_seconds(m.proc.pid) - before
    return 100 * spent / (time.perf_counter() - started)


def daemon_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main(argv):
    import util
    quick = "--quick" in argv
    json_path = argv[argv.index("--json") + 1] if "--json" in argv else None
    counts = [1000] if quick else [1000, 10000]
    report = Report(json_path)
    made = {kind: [] for kind in KINDS}
    saved = raise_limits(max(counts))
    m = util.Mount(options=["allow_other"])
    try:
        ls_times, ipcs_times = {}, {}
        for count in counts:
            for kind, flag in KINDS.items():
                create(kind, count, made)
                directory = m.p(kind)
                assert len(os.listdir(directory)) == count, f"{kind}: not {count} files"
                time.sleep(1.1)         # that listing's watcher is done
                ipcs = timed(lambda: run_quiet(["ipcs", flag]))
                ls = timed(lambda: run_quiet(["ls", "-l", directory]))
                st = timed(lambda: stat_all(directory))
                ls_times[kind, count], ipcs_times[kind, count] = ls[0], ipcs[0]
                report.line(f"ls -l {count} {kind}", "ms", in_ms(ls), in_ms(ipcs), 3.0)
                report.line(f"stat each of {count} {kind}", "ms", in_ms(st), in_ms(ipcs), None)
                cpu = watcher_cpu(m, directory)
                report.line(f"CPU, ls -l + 1.2 s, {count} {kind}", "%", [cpu] * 3, None, None)
                report.line(f"removed after ls: gone, {count} {kind}", "ms",
                            removal_seen_after(m, kind, made), None, 10)
        if len(counts) > 1:
            for kind in KINDS:
                growth = ls_times[kind, counts[1]] / ls_times[kind, counts[0]]
                native = ipcs_times[kind, counts[1]] / ipcs_times[kind, counts[0]]
                print(f"{'ls -l growth ' + kind:<28} x{growth:.1f} from {counts[0]} to "
                      f"{counts[1]} objects, ipcs x{native:.1f} "
                      f"(x{counts[1] / counts[0]:.0f} would be linear)")
                report.record(f"ls -l {kind} growth 1k->10k", "x", [growth] * 3, [native] * 3, 0)
        time.sleep(1.1)                 # the last listing's cache expires
        before = daemon_cpu_seconds(m.proc.pid)
        time.sleep(1)
        idle = 100 * (daemon_cpu_seconds(m.proc.pid) - before)
        report.line("CPU, nobody listing", "%", [idle] * 3, None, None)
        rss = daemon_rss_kib(m.proc.pid) / 1024
        report.line(f"daemon RSS, {max(counts)} each", "MiB", [rss, rss, rss], None, 32)
    finally:
        status = m.unmount()
        remove_all(made)
        restore_limits(saved)
    return 1 if status else 0


if __name__ == "__main__":
    if os.environ.get("IPCFS_LISTING_NS") != "1":
        env = dict(os.environ, IPCFS_LISTING_NS="1")
        os.execvpe("unshare", ["unshare", "--ipc", sys.executable] + sys.argv, env)
    sys.exit(main(sys.argv[1:]))
