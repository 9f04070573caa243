# SPDX-License-Identifier: GPL-2.0-only
"""Mounting ipcfs for tests, and independent views of the kernel's IPC state."""
import errno
import os
import re
import random
import select
import signal
import subprocess
import tempfile

import sysv_ipc

# A suite started in the background by a shell without job control inherits SIGINT and SIGQUIT
# ignored, and so would every process it starts: a cat the tests Ctrl-C would never die.  The
# tests act as a terminal's user would, so their children get the defaults (a handler set
# here is reset to SIG_DFL by exec; SIG_IGN would be inherited).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)

# Over FUSE io_uring (tests/chroot/run sid --uring) a request that waits holds its ring entry
# until answered, so ipcfs lets at most io_uring_q_depth - 1 (libfuse's default 8, so 7) wait
# at once (src/block.c): tests of hundreds of waiters cannot hold there, and skip.
OVER_IO_URING = "io_uring" in os.environ.get("IPCFS_TEST_OPTIONS", "").split(",")
RING_WAITERS = 7

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("IPCFS_BUILD", os.path.join(REPO, "build"))
IPCFS = os.environ.get("IPCFS_BIN", os.path.join(BUILD, "src", "ipcfs"))
CHANNEL_KO = os.path.join(REPO, "kmod", "channel.ko")
# What a mount's root lists, sorted: one name per kind of the kind table (src/kinds.c).
ROOT_NAMES = ["chan", "events", "msg", "sem", "shm"]
HELPERS = os.path.join(BUILD, "tests", "helpers")


# uids and gids that permission tests act as; fusermount3 wants them in /etc/passwd.
TEST_USERS = {"ipcfs-owner": 2001, "ipcfs-creator": 2002, "ipcfs-other": 2003,
              "ipcfs-member": 2004}
TEST_GROUPS = {"ipcfs-group": 3001, "ipcfs-cgroup": 3002}


def ensure_test_users():
    import grp
    import pwd
    for name, gid in TEST_GROUPS.items():
        try:
            grp.getgrgid(gid)
        except KeyError:
            subprocess.run(["groupadd", "-g", str(gid), name], check=True)
    for name, uid in TEST_USERS.items():
        try:
            pwd.getpwuid(uid)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", "-u", str(uid), "-g", "3001",
                            "-s", "/usr/sbin/nologin", name], check=True)


def helper(name):
    return os.path.join(HELPERS, name)


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def wait_for_mount_change(path, want_mounted, proc=None):
    """Block until path is (or is no longer) a mount point.

    Waits on events, not time: /proc/self/mountinfo signals POLLPRI whenever
    the mount table changes, and a pidfd signals POLLIN when the daemon exits.
    """
    with open("/proc/self/mountinfo") as mounts:
        poller = select.poll()
        poller.register(mounts, select.POLLPRI | select.POLLERR)
        pidfd = None
        if proc is not None:
            pidfd = os.pidfd_open(proc.pid)
            poller.register(pidfd, select.POLLIN)
        try:
            while True:
                mounts.seek(0)
                mounts.read()
                if is_mounted(path) == want_mounted:
                    return True
                if proc is not None and proc.poll() is not None:
                    return False
                poller.poll()
        finally:
            if pidfd is not None:
                os.close(pidfd)


class Mount:
    """One ipcfs daemon in the foreground, mounted on a temporary directory."""

    def __init__(self, options=(), debug=False, mountpoint=None, binary=None):
        self.tmp = None
        if mountpoint is None:
            self.tmp = tempfile.mkdtemp(prefix="ipcfs-mnt-")
            mountpoint = self.tmp
        self.path = mountpoint
        # IPCFS_TEST_DEBUG=1: every daemon runs with -d and keeps its log in /tmp.
        keep = bool(os.environ.get("IPCFS_TEST_DEBUG"))
        self.debug = debug or keep
        debug = self.debug
        self.log = tempfile.NamedTemporaryFile(prefix="ipcfs-log-", mode="w+", delete=not keep)
        cmd = [binary or IPCFS, "-f", self.path]
        if debug:
            cmd.append("-d")
        # IPCFS_TEST_OPTIONS: more -o options for every mount (tests/chroot/run sid --uring).
        for opt in [*options, *filter(None, os.environ.get("IPCFS_TEST_OPTIONS", "").split(","))]:
            cmd += ["-o", opt]
        env = dict(os.environ, G_DEBUG="fatal-warnings")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if not wait_for_mount_change(self.path, True, self.proc):
            raise RuntimeError("ipcfs did not mount:\n" + self.output())

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def output(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def unmount(self):
        """Unmount with fusermount3 -u; return the daemon's exit status.

        Right after a process holding a file exits, umount(2) can still say
        EBUSY for a few milliseconds (the kernel drops its last reference
        after the exit is reported), more often with a slow sanitizer build.
        Then it unmounts lazily, as sshfs's tests do: the daemon exits only
        once the kernel has released every file, so its exit still proves it.
        """
        if self.proc.poll() is None:
            r = subprocess.run(["fusermount3", "-u", self.path], capture_output=True, text=True)
            if r.returncode != 0:
                assert "busy" in r.stderr, r.stderr
                subprocess.run(["fusermount3", "-u", "-z", self.path], check=True)
        status = self.proc.wait()
        if is_mounted(self.path):   # the daemon died: detach what it left
            subprocess.run(["fusermount3", "-u", "-z", self.path], check=True)
        if self.tmp:
            os.rmdir(self.tmp)
        return status

    def shm_mode(self):
        """The daemon's choice for /shm: ("passthrough", "") or ("classic", why). Needs -d."""
        assert self.debug
        os.stat(self.path)          # the first request waits for FUSE INIT, which logs the mode
        m = re.search(r"shm: (passthrough|classic) mode(?: \(([^)]*)\))?", self.output())
        assert m, "the daemon did not log its /shm mode:\n" + self.output()
        return m.group(1), m.group(2) or ""

    def problems(self):
        """Lines of daemon output that are warnings or errors."""
        # Not problems: libfuse 3.18's debug log says the first at every unmount; libfuse
        # prints the second when the connection ends as a worker takes a request from the
        # queue, which the daemon takes for the normal end it is (main.c; the fixture
        # still asserts exit status 0).
        fine = ("fuse: session exited, terminating workers",
                "fuse: reading device: Software caused connection abort")
        lines = [line for line in self.output().splitlines() if line.strip() not in fine]
        if not self.debug:
            return [line for line in lines if line.strip()]
        bad = ("WARNING **", "CRITICAL **", "fuse: ", "ERROR:", "Sanitizer", "runtime error:")
        return [line for line in lines if any(b in line for b in bad)]


class IpcRegistry:
    """Every IPC object a test creates, so that it is removed even if the test fails."""

    def __init__(self):
        self.objects = []   # (kind, id)
        self.keys = []      # (kind, key): whatever holds the key at the end goes too

    @staticmethod
    def fresh_key():
        while True:
            key = random.randint(0x10000, 0x7FFFFFFF)
            if all(_exists(kind, key) is False for kind in ("shm", "sem", "msg")):
                return key

    def track(self, kind, ident, key=None):
        """Remove ident at the end, and whatever holds key then (a resize changes the id)."""
        self.objects.append((kind, ident))
        if key:
            self.keys.append((kind, key))
        return ident

    def shm(self, key=None, size=4096, mode=0o600):
        key = self.fresh_key() if key is None else key
        seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, mode=mode, size=size)
        self.track("shm", seg.id, key)
        seg.detach()    # sysv_ipc attaches on creation; tests attach when they mean to
        return seg

    def sem(self, key=None, nsems=1, mode=0o600, value=0):
        key = self.fresh_key() if key is None else key
        if nsems == 1:
            sem = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, mode=mode, initial_value=value)
            self.track("sem", sem.id, key)
            return sem
        out = subprocess.run(["ipcmk", "-S", str(nsems), "-p", oct(mode)[2:]],
                             check=True, capture_output=True, text=True).stdout
        ident = int(out.split(":")[1])
        # ipcmk picks the key: track it too, since a resize through ipcfs re-creates the set under
        # a new id with the same key.
        key = int(proc_sysvipc("sem")[ident]["key"])
        return self.track("sem", ident, key & 0xffffffff or None)

    def msg(self, key=None, mode=0o600):
        key = self.fresh_key() if key is None else key
        q = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=mode, max_message_size=1 << 20)
        self.track("msg", q.id, key)
        return q

    def track_key(self, kind, key):
        """Track an object that something else (ipcfs) created under key."""
        self.keys.append((kind, key))
        ident = _id_of(kind, key)
        if ident is not None:
            self.track(kind, ident)
        return ident

    def cleanup(self):
        for kind, key in self.keys:
            ident = _id_of(kind, key)
            if ident is not None:
                remove(kind, ident)
        for kind, ident in self.objects:
            remove(kind, ident)


def owned_objects(ipc, mode, uid, gid):
    """One object of each kind, created by root, then given to uid:gid: {kind: object}."""
    made = {}
    for kind in ("shm", "sem", "msg"):
        obj = getattr(ipc, kind)(mode=mode)
        obj.uid, obj.gid = uid, gid
        made[kind] = obj
    return made


def _id_of(kind, key):
    """The id of the object with this key, from the kernel's table (no attach)."""
    for ident, row in proc_sysvipc(kind).items():
        if int(row["key"]) & 0xffffffff == key & 0xffffffff:
            return ident
    return None


def _exists(kind, key):
    return _id_of(kind, key) is not None


def remove(kind, ident):
    try:
        {"shm": sysv_ipc.remove_shared_memory, "sem": sysv_ipc.remove_semaphore,
         "msg": sysv_ipc.remove_message_queue}[kind](ident)
    except (sysv_ipc.ExistentialError, sysv_ipc.Error):
        pass


def proc_sysvipc(kind):
    """The kernel's own table, as ipcs reads it: {id: {column: value}}."""
    with open(f"/proc/sysvipc/{kind}") as f:
        header = f.readline().split()
        rows = {}
        for line in f:
            fields = line.split()
            row = dict(zip(header, fields))
            rows[int(fields[1])] = row
        return rows


class Holdings:
    """What a daemon holds of something: its mappings and descriptors that name it."""

    def __init__(self, maps, fds):
        self.maps, self.fds = maps, fds

    def __bool__(self):
        return bool(self.maps or self.fds)


def daemon_holds(mnt, name):
    """The daemon's mappings and descriptors whose target contains name: a shm segment's
    f"SYSV{key:08x}", an IPC namespace's f"ipc:[{ino}]".  False when there are none."""
    pid = mnt.proc.pid
    with open(f"/proc/{pid}/maps") as f:
        maps = [line for line in f if name in line]
    fds = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if name in os.readlink(f"/proc/{pid}/fd/{fd}"):
                fds.append(fd)
        except FileNotFoundError:
            pass        # closed while we looked
    return Holdings(maps, fds)


def listed(value):
    """The PID:COMM of each process a list of processes names (user.ipc.attached, waiting,
    undo, creator, user.ns.pids: one line each, "PID:COMM<tab>CGROUP<tab>TITLE", then
    "+N hidden" for those the caller may not see), space-separated."""
    if isinstance(value, bytes):
        value = value.decode()
    return " ".join(line.split("\t")[0] for line in value.splitlines() if not line.startswith("+"))


def hidden(value):
    """How many processes a list of processes says the caller may not see."""
    if isinstance(value, bytes):
        value = value.decode()
    last = value.splitlines()[-1] if value else ""
    return int(last[1:].split()[0]) if last.startswith("+") and last.endswith(" hidden") else 0


def name_of(key, ident=None):
    """The name of an object in its kind's directory: its key, or id-<ident> if private."""
    return f"id-{ident}" if key == 0 else f"0x{key & 0xffffffff:08x}"


def run_as(uid, gid, code, groups=None, check=False, within=()):
    """Run Python code as another uid/gid; returns the CompletedProcess.

    within: a command that the code runs under, after the change of ids
    (["unshare", "-r"]: in a user namespace of its own, with every capability there)."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
    cmd += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    cmd += [*within, "/usr/bin/python3", "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def errno_of(uid, gid, code, groups=None, within=()):
    """Run code as uid; return 'OK' or the errno name of the OSError it raised."""
    wrapped = ("import os, sys, errno\ntry:\n" +
               "".join("    " + line + "\n" for line in code.strip().splitlines()) +
               "    print('OK')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n")
    r = run_as(uid, gid, wrapped, groups, within=within)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def oserror(fn, *args):
    """The errno name fn(*args) fails with, or 'OK'."""
    try:
        fn(*args)
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]


def open_close(path, flags, mode=0o600):
    """open(2) and close at once; for oserror(open_close, ...) checks that may succeed."""
    os.close(os.open(path, flags, mode))


def wait_until(predicate):
    """Wait for a condition the kernel gives no event for (a waiter count, a
    process entering a wait).  No time limit: the test runner's own timeout is
    the backstop, and speed is measured in tests/bench, not asserted here."""
    import time
    delay = 0.0005
    while not predicate():
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def wait_blocked(p):
    """Wait until process p is blocked in a FUSE request; fail if it exits instead."""
    wait_until(lambda: fuse_waiting(p.pid) or p.poll() is not None)
    assert p.poll() is None, f"exited with {p.returncode}: {p.stdout.read() if p.stdout else ''}"


def fuse_waiting(pid):
    """Is process pid blocked waiting for a FUSE reply?"""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read().strip() in ("request_wait_answer", "fuse_wait_answer")
    except FileNotFoundError:
        return False


def records_by_writer(fd):
    """Read a channel (opened O_NONBLOCK) dry; count records per fill byte, failing on a torn one."""
    counts = {}
    while True:
        try:
            rec = os.read(fd, 1 << 20)
        except BlockingIOError:
            return counts
        assert len(set(rec)) == 1, "a torn record"
        counts[rec[0]] = counts.get(rec[0], 0) + 1


class Child(subprocess.Popen):
    """A subprocess that, used with `with`, is killed at the end whatever happens."""

    def __exit__(self, *exc):
        if self.poll() is None:
            self.kill()
        return super().__exit__(*exc)


def io(*args, **kw):
    """Start tests/helpers/ipcfs-io; return once its file is open."""
    p = Child([helper("ipcfs-io"), *map(str, args)], stdout=subprocess.PIPE,
              stdin=subprocess.PIPE, text=True, **kw)
    first = p.stdout.readline()
    if first != "OPEN\n":
        p.kill()
        p.wait()
        raise AssertionError(f"ipcfs-io {args}: open failed: {first.strip()}")
    return p


def sem_values(ident):
    """The kernel's values of a set, read independently of ipcfs (GETALL)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    nsems = int(proc_sysvipc("sem")[ident]["nsems"])
    arr = (ctypes.c_ushort * nsems)()
    if libc.semctl(ident, 0, 13, arr) != 0:     # GETALL
        raise OSError(ctypes.get_errno(), "semctl GETALL")
    return list(arr)


def sem_setall(ident, values):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    arr = (ctypes.c_ushort * len(values))(*values)
    if libc.semctl(ident, 0, 17, arr) != 0:     # SETALL
        raise OSError(ctypes.get_errno(), "semctl SETALL")


def semop(ident, ops, nowait=False):
    """Independent semop: ops is [(semnum, op)]."""
    import ctypes

    class Sembuf(ctypes.Structure):
        _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short),
                    ("sem_flg", ctypes.c_short)]
    libc = ctypes.CDLL(None, use_errno=True)
    arr = (Sembuf * len(ops))(*[Sembuf(n, o, 0o4000 if nowait else 0) for n, o in ops])
    if libc.semop(ident, arr, len(ops)) != 0:
        raise OSError(ctypes.get_errno(), "semop")


def sem_ncnt(ident, semnum=0):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.semctl(ident, semnum, 14)       # GETNCNT
