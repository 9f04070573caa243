# SPDX-License-Identifier: GPL-2.0-only
"""The stress run: every kind at once, several users, callers killed mid-call.

    /usr/bin/python3 tests/stress/stress.py [--seconds N | --minutes N] [--seed N]

It mounts ipcfs (IPCFS_BUILD or build/; root, allow_other, all_ns, a small
/chan ring so that overruns happen), starts survivors and victims of
tests/stress/worker.py as uids 0, 2001, 2003 and 2004 (half of root's SysV
workers reach the objects through /ns/<ino>/, where every request moves a
daemon thread into the namespace and back), removes, re-creates and resizes chaos objects
behind the daemon's back, interrupts survivors with SIGINT (they retry) and
kills victims with SIGINT, SIGTERM or SIGKILL, blocked or not, and keeps new
victims coming.  Two hostile users (uids 2003, 2004) run every attack of the
threat model (docs/design.md) at once, small and over and over.  Then it stops everything and passes only if:

  - no caller hangs: every phase of the stop ends within HANG_DEADLINE;
  - the daemon never died, printed nothing (sanitizer reports included),
    and exits 0 at unmount; its peak resident memory stayed under 64 MiB
    (in a release build);
  - invariants hold, checked with clients independent of ipcfs:
    every message sent through the mount was received exactly once or is
    still queued; semaphore 0 of the set equals its start plus every
    operation that succeeded; semaphore 1 (moved only by "undo" operations,
    survivors' and killed victims') is back at its start, so every undo was
    applied exactly once; each survivor's /shm slot holds what it last
    wrote; no /chan record was torn.
"""
import argparse
import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import sysv_ipc  # noqa: E402
import util  # noqa: E402

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
HANG_DEADLINE = 60.0    # seconds a stopping caller may take before it counts as hung
UIDS = [0, 2001, 2003, 2004]
SEM_START = [50, 10]
VICTIMS = 24            # alive at any time
CATCH_SLOTS = 256       # messages one msg victim can take
ATTACKERS = [2003, 2004]    # uids of the hostile users (worker.py attacker)


RSS_BOUND = 64 << 20     # the daemon's peak resident memory (test_threats's bound)
# An ASan build keeps freed memory in quarantine (256 MiB) and shadow memory beside it, so
# its peak says nothing about what the daemon holds: only a release build's run judges it.
SANITIZED = "ASAN_OPTIONS" in os.environ


def proc_status(pid, field):
    """A field of /proc/PID/status, without its unit."""
    with open(f"/proc/{pid}/status") as f:
        return next(line.split()[1] for line in f if line.startswith(field + ":"))


class Failure(Exception):
    pass


def proc_file(pid, name):
    try:
        with open(f"/proc/{pid}/{name}") as f:
            return f.read()
    except OSError as e:
        return f"({e.strerror})"


class Run:
    def __init__(self, seconds, seed):
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.seed = seed
        self.tmp = tempfile.mkdtemp(prefix="ipcfs-stress-")
        os.chmod(self.tmp, 0o777)
        self.stop_file = os.path.join(self.tmp, "stop")
        self.survivors = []     # (role, Popen)
        self.victims = []       # (role, Popen, catch file or None)
        self.ready = set()      # the victims' Popens that said "ready"
        self.catches = []
        self.kills = {"SIGINT": 0, "SIGTERM": 0, "SIGKILL": 0}
        self.interrupts_sent = 0
        self.victims_started = 0
        self.through_ns = 0     # workers that use /ns/<ino>/ instead of the top-level tree
        self.reg = util.IpcRegistry()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.errors = []

    # ---- workers

    def spawn(self, role, survivor, wait_ready=True, uid=None, **extra):
        uid = self.rng.choice(UIDS) if uid is None else uid
        tree = self.mnt.path
        # /chan and /events are in the top-level tree only.
        if uid == 0 and not role.startswith(("chan", "events")) and self.rng.random() < 0.5:
            tree = self.ns_tree
            self.through_ns += 1
        cfg = dict(mount=tree, stop=self.stop_file, seed=self.rng.getrandbits(32),
                   survivor=survivor, sem_name=self.sem_name, msg_name=self.msg_name,
                   shm_name=self.shm_name, shm_id=self.shm_id, chaos=self.chaos, **extra)
        cmd = [sys.executable, WORKER, role, json.dumps(cfg)]
        if uid:
            cmd = ["setpriv", f"--reuid={uid}", "--regid=3001", "--clear-groups"] + cmd
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # A signal before this line may be swallowed by Python itself (see worker.py).
        if wait_ready and proc.stdout.readline() != "ready\n":
            proc.kill()
            raise Failure(f"a {role} worker did not start:\n{proc.communicate()[1]}")
        return proc

    def ready_victims(self):
        """The victims that may be signalled: those that said "ready" (see worker.py)."""
        waiting = {v[1].stdout: v[1] for v in self.victims if v[1] not in self.ready}
        for out in select.select(list(waiting), [], [], 0)[0]:
            if out.readline() == "ready\n":
                self.ready.add(waiting[out])
        return [v for v in self.victims if v[1] in self.ready]

    def spawn_victim(self):
        role = self.rng.choice(["semvictim", "msgvictim", "msgvictim", "chanvictim", "chaosvictim",
                                "eventsvictim"])
        catch = None
        if role == "msgvictim":
            fd, catch = tempfile.mkstemp(dir=self.tmp)
            os.ftruncate(fd, CATCH_SLOTS * 64)
            os.close(fd)
            os.chmod(catch, 0o666)
            self.catches.append(catch)
        proc = self.spawn(role, False, wait_ready=False, catch=catch,
                          fatal_sigint=self.rng.random() < 0.5)
        self.victims.append((role, proc, catch))
        self.victims_started += 1

    def killer(self):
        """Kill a random victim now and then (and wait for it to die); interrupt survivors."""
        while not self.done.wait(self.rng.uniform(0.005, 0.05)):
            with self.lock:
                if self.rng.random() < 0.3 and self.survivors:
                    role, proc = self.rng.choice(self.survivors)
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGINT)
                        self.interrupts_sent += 1
                for victim in [v for v in self.victims if v[1].poll() is not None]:
                    victim[1].communicate()     # ended by itself (a msg victim's catch is full, ...)
                    self.victims.remove(victim)
                    self.ready.discard(victim[1])
                while len(self.victims) < VICTIMS:
                    self.spawn_victim()
                ready = self.ready_victims()
                if not ready:
                    continue
                victim = self.rng.choice(ready)
                self.victims.remove(victim)
                self.ready.discard(victim[1])
                role, proc, _ = victim
                sig = self.rng.choice(["SIGINT", "SIGTERM", "SIGKILL"])
                proc.send_signal(getattr(signal, sig))
                self.kills[sig] += 1
            # Every victim dies of each of these (SIGINT: by SIG_DFL or its handler's _exit).
            try:
                proc.communicate(timeout=HANG_DEADLINE)
            except subprocess.TimeoutExpired:
                wchan = proc_file(proc.pid, 'wchan')
                diagnosis = self.diagnose(proc.pid)
                proc.kill()
                stderr = proc.communicate()[1].strip().splitlines()[-5:]
                self.errors.append(f"a {role} victim survived {sig} for {HANG_DEADLINE:.0f} s "
                                   f"(wchan {wchan}; {diagnosis}; its stderr ended {stderr})")

    def chaos_loop(self):
        """Remove, re-create and resize the chaos objects behind the daemon's back (as root)."""
        while not self.done.wait(self.rng.uniform(0.005, 0.03)):
            kind = self.rng.choice(["shm", "sem", "msg"])
            key = self.chaos_keys[kind]
            r = self.rng.random()
            try:
                if r < 0.4:
                    ident = util._id_of(kind, key)
                    if ident is not None:
                        util.remove(kind, ident)
                elif r < 0.8:
                    if kind == "shm":
                        sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, mode=0o666,
                                              size=self.rng.randrange(1, 20000)).detach()
                    elif kind == "sem":
                        sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, mode=0o666)
                    else:
                        sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o666)
                else:
                    os.truncate(self.mnt.p(kind, self.chaos[kind]),
                                {"shm": self.rng.randrange(1, 30000), "sem": self.rng.randrange(1, 4),
                                 "msg": 0}[kind])
            except (sysv_ipc.Error, OSError, ValueError):   # sysv_ipc says EINVAL as ValueError
                pass

    def guarded(self, loop):
        """A harness thread that dies would quietly weaken the run: make it a failure."""
        try:
            loop()
        except Exception as e:      # noqa: BLE001 - reported as a failed check
            self.errors.append(f"the harness's {loop.__name__} thread died: {e!r}")
            self.done.set()

    # ---- the run

    def setup(self):
        util.ensure_test_users()
        with open("/proc/self/mounts") as f:
            fusectl = any(line.split()[2] == "fusectl" for line in f)
        if not fusectl:     # where wait_daemon_idle() reads the kernel's request count
            subprocess.run(["mount", "-t", "fusectl", "fusectl", "/sys/fs/fuse/connections"],
                           check=True)
        self.mnt = util.Mount(options=("allow_other", "all_ns", "chan=builtin", "chan_mode=0666",
                                       "channels=2", "chan_size=65536"))
        self.ns_tree = self.mnt.p("ns", str(os.stat("/proc/self/ns/ipc").st_ino))
        sem = self.reg.sem(nsems=2, mode=0o666)
        util.sem_setall(sem, SEM_START)
        self.sem_id = sem
        self.sem_name = f"id-{sem}"
        q = self.reg.msg(mode=0o666)
        q.max_size = 4096       # small: senders block, receivers wake them
        self.queue, self.msg_name = q, util.name_of(q.key)
        seg = self.reg.shm(size=65536, mode=0o666)
        self.shm_id, self.shm_name = seg.id, util.name_of(seg.key)
        self.chaos_keys = {k: self.reg.fresh_key() for k in ("shm", "sem", "msg")}
        for kind, key in self.chaos_keys.items():
            self.reg.keys.append((kind, key))
        self.chaos = {k: util.name_of(key) for k, key in self.chaos_keys.items()}

    def start(self):
        with self.lock:
            for i in range(3):
                self.survivors.append(("sem", self.spawn("sem", True)))
            for i in range(3):
                self.survivors.append(("msgsend", self.spawn("msgsend", True, wid=i)))
            for i in range(3):
                self.survivors.append(("msgrecv", self.spawn("msgrecv", True)))
            for i in range(3):
                self.survivors.append(("shm", self.spawn("shm", True, slot=i)))
            for i in range(2):
                self.survivors.append(("chanw", self.spawn("chanw", True, wid=i + 1)))
            for i in range(3):
                self.survivors.append(("chanr", self.spawn("chanr", True)))
            for i in range(2):
                self.survivors.append(("names", self.spawn("names", True)))
            for i in range(2):
                self.survivors.append(("events", self.spawn("events", True)))
            for i in range(2):
                self.survivors.append(("threads", self.spawn("threads", True)))
            for uid in ATTACKERS:
                key = self.reg.fresh_key()
                self.reg.keys.append(("shm", key))
                self.survivors.append(("attacker", self.spawn("attacker", True, uid=uid,
                                                              attack_shm=util.name_of(key))))
            for i in range(VICTIMS):
                self.spawn_victim()
        self.threads = [threading.Thread(target=self.guarded, args=(self.killer,)),
                        threading.Thread(target=self.guarded, args=(self.chaos_loop,))]
        for t in self.threads:
            t.start()

    def wait_for(self, what, procs):
        """Wait for procs to exit; any still running after HANG_DEADLINE is a hung caller."""
        deadline = time.monotonic() + HANG_DEADLINE
        reports = []
        for role, proc in procs:
            try:
                out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise Failure(f"{what}: a {role} caller hung (wchan {proc_file(proc.pid, 'wchan')}; "
                              f"{self.diagnose(proc.pid)})")
            if proc.returncode != 0:
                raise Failure(f"{what}: a {role} worker failed ({proc.returncode}):\n{err}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports

    def stop(self):
        open(self.stop_file, "w").close()
        self.done.set()
        for t in self.threads:
            t.join()
        with self.lock:
            for role, proc, _ in self.victims:
                if proc.poll() is None:
                    proc.kill()
            self.wait_victims()
        by_role = lambda *roles: [(r, p) for r, p in self.survivors if r in roles]  # noqa: E731
        reports = self.wait_for("sem/shm/names survivors and attackers",
                               by_role("sem", "shm", "names", "threads", "chanw", "attacker",
                                       "events"))
        reports += self.wait_for("msg senders", by_role("msgsend"))
        receivers = by_role("msgrecv")
        for _ in receivers:             # one stop pill of each type per receiver
            for t in (1, 2):
                self.queue.send(b"STOP".ljust(32, b"."), type=t)
        reports += self.wait_for("msg receivers", receivers)
        readers = by_role("chanr")
        waker = threading.Event()

        def wake_channels():
            fds = [os.open(self.mnt.p("chan", str(n)), os.O_WRONLY) for n in range(2)]
            while not waker.wait(0.005):
                for fd in fds:
                    os.write(fd, b"\xff" * 8)
            for fd in fds:
                os.close(fd)
        t = threading.Thread(target=wake_channels)
        t.start()
        try:
            reports += self.wait_for("chan readers", readers)
        finally:
            waker.set()
            t.join()
        return reports

    def wait_victims(self):
        for role, proc, _ in self.victims:
            try:
                proc.communicate(timeout=HANG_DEADLINE)
            except subprocess.TimeoutExpired:
                raise Failure(f"a killed {role} victim hung (wchan {proc_file(proc.pid, 'wchan')})")

    def diagnose(self, pid):
        """Keep what explains a hung caller: its kernel stack and system call, the FUSE
        connection's request count, and every daemon thread's stack (gdb, if installed)."""
        path = os.path.join(tempfile.gettempdir(), f"ipcfs-stress-hang-{os.getpid()}-{pid}.txt")
        conn = f"/sys/fs/fuse/connections/{os.minor(os.stat(self.mnt.path).st_dev)}"
        with open(path, "w") as out:
            out.write(f"caller {pid}: {proc_file(pid, 'cmdline')!r}\nsyscall: {proc_file(pid, 'syscall')}"
                      f"kernel stack:\n{proc_file(pid, 'stack')}\n")
            with open(conn + "/waiting") as f:
                out.write(f"requests the daemon has not answered: {f.read()}\n")
            daemon = self.mnt.proc.pid
            ticks = [sum(map(int, proc_file(daemon, "stat").split()[13:15]))]
            time.sleep(1)
            ticks.append(sum(map(int, proc_file(daemon, "stat").split()[13:15])))
            out.write(f"daemon CPU over 1 s: {ticks[1] - ticks[0]} ticks; "
                      f"caller state after it: {proc_file(pid, 'wchan')}\n")
            for tid in sorted(os.listdir(f"/proc/{daemon}/task"), key=int):
                out.write(f"daemon thread {tid} ({proc_file(daemon, f'task/{tid}/comm').strip()}) "
                          f"kernel stack:\n{proc_file(daemon, f'task/{tid}/stack')}")
            out.flush()
            try:
                subprocess.run(["gdb", "-batch", "-p", str(self.mnt.proc.pid),
                                "-ex", "thread apply all bt"],
                               stdout=out, stderr=subprocess.STDOUT, timeout=120)
            except (OSError, subprocess.TimeoutExpired) as e:
                out.write(f"no daemon stacks: {e}\n")
        return f"diagnosis in {path}"

    def wait_daemon_idle(self):
        """Every request answered, RELEASEs included: the kernel's own count for this mount."""
        waiting = f"/sys/fs/fuse/connections/{os.minor(os.stat(self.mnt.path).st_dev)}/waiting"
        deadline = time.monotonic() + HANG_DEADLINE
        while int(open(waiting).read()) != 0:
            if time.monotonic() > deadline:
                raise Failure(f"the daemon still has {open(waiting).read().strip()} requests "
                              f"after {HANG_DEADLINE:.0f} s")
            time.sleep(0.01)

    def check(self, reports):
        results = []
        # sem
        values = util.sem_values(self.sem_id)
        delta = sum(r["sem_delta"] for r in reports if r["role"] == "sem")
        expect = [SEM_START[0] + delta, SEM_START[1]]
        results.append(("sem: values equal start + successful operations; undo applied once each",
                        values == expect, f"kernel {values}, expected {expect}"))
        # msg
        sent = set()
        for r in reports:
            if r["role"] == "msgsend":
                sent |= {f"{r['wid']:03d}-{s:08d}".ljust(32, ".") for s in range(r["sent"])}
        got = [m for r in reports if r["role"] == "msgrecv" for m in r["got"]]
        by_victims = []
        for catch in self.catches:
            with open(catch, "rb") as f:
                data = f.read()
            for i in range(0, len(data), 64):
                body = data[i:i + 32]
                if body.strip(b"\0"):
                    by_victims.append(body.decode())
        queued = []
        q = self.queue
        while q.current_messages:
            body = q.receive()[0].decode()
            if not body.startswith("STOP"):
                queued.append(body)
        received = got + by_victims + queued
        dupes = len(received) - len(set(received))
        missing = sent - set(received)
        invented = set(received) - sent
        results.append(("msg: every message sent is received exactly once or still queued",
                        not dupes and not missing and not invented,
                        f"{len(sent)} sent: {len(got)} by survivors, {len(by_victims)} by killed "
                        f"readers, {len(queued)} queued; {dupes} duplicated, {len(missing)} lost, "
                        f"{len(invented)} invented"))
        # shm
        bad_slots = []
        mem = sysv_ipc.attach(self.shm_id)
        try:
            for r in reports:
                if r["role"] == "shm" and r["pattern"]:
                    pat = bytes.fromhex(r["pattern"])
                    if mem.read(len(pat), r["slot"] * 4096) != pat:
                        bad_slots.append(r["slot"])
        finally:
            mem.detach()
        results.append(("shm: each slot holds what its writer last wrote", not bad_slots,
                        f"slots {bad_slots} differ" if bad_slots else "3 slots"))
        records = sum(r.get("records", 0) for r in reports if r["role"] == "chanr")
        results.append(("chan: no record torn", True, f"{records} records read by survivors"))
        lines = sum(r.get("lines", 0) for r in reports if r["role"] == "events")
        # The names workers create and remove objects all along: readers that saw none were starved.
        results.append(("events: whole JSON lines, and some were read", lines > 0,
                        f"{lines} lines read by survivors"))
        return results

    def run(self):
        started = time.monotonic()
        self.setup()
        try:
            self.start()
            self.done.wait(self.seconds)
            if self.mnt.proc.poll() is not None:
                raise Failure(f"the daemon died:\n{self.mnt.output()}")
            reports = self.stop()
            self.wait_daemon_idle()
            peak = int(proc_status(self.mnt.proc.pid, "VmHWM")) << 10
            results = self.check(reports)
            attacks = {}
            for r in reports:
                for name, n in r.get("attacks", {}).items():
                    attacks[name] = attacks.get(name, 0) + n
            refusals = {}
            for r in reports:
                if r["role"] == "attacker":
                    for name, n in r["errors"].items():
                        refusals[name] = refusals.get(name, 0) + n
            measured = (f"VmHWM {peak >> 20} MiB (bound {RSS_BOUND >> 20} MiB); attacks by uids "
                        f"{ATTACKERS}: {attacks}, refused {refusals}")
            if SANITIZED:
                print(f"stress: peak memory not judged under ASan: {measured}")
            else:
                results.append(("daemon: peak memory under the bound, whatever the attackers did",
                                peak < RSS_BOUND, measured))
        finally:
            open(self.stop_file, "w").close()
            self.done.set()
            for role, proc, _ in self.victims:
                if proc.poll() is None:
                    proc.kill()
            for role, proc in self.survivors:
                if proc.poll() is None:
                    proc.kill()
            try:
                status = self.mnt.unmount()
                problems = self.mnt.problems()
            finally:
                self.reg.cleanup()
        ops = sum(r["ops"] for r in reports)
        print(f"stress: {time.monotonic() - started:.0f} s (seed {self.seed}), {ops} operations by "
              f"{len(self.survivors)} survivors ({self.interrupts_sent} SIGINTs, retried); "
              f"{self.victims_started} victims, killed by {self.kills}; "
              f"{self.through_ns} workers through /ns")
        results.append(("daemon: exits 0 at unmount", status == 0, f"exit status {status}"))
        results.append(("daemon: printed nothing (no warning, no sanitizer report)", not problems,
                        "\n".join(problems[:40])))
        results.append(("callers: none hung, no killed victim survived; harness intact", not self.errors,
                        "; ".join(self.errors)))
        for name, ok, detail in results:
            print(f"  {'pass' if ok else 'FAIL'}  {name}: {detail}")
        failed = sum(not ok for _, ok, _ in results)
        print(f"stress: {len(results) - failed} passed, {failed} failed")
        return failed == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = ap.parse_args()
    seconds = args.minutes * 60 if args.minutes else args.seconds
    try:
        ok = Run(seconds, args.seed).run()
    except Failure as e:
        print(f"stress: FAIL: {e}")
        print("stress: 0 passed, 1 failed")
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
