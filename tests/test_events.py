# SPDX-License-Identifier: GPL-2.0-only
"""/events: who created, changed, attached, detached and removed objects, against native
processes (ipcmk, ipcrm, python3-sysv-ipc), from both sources: eBPF on the raw syscall
tracepoints and the listing watcher."""
import errno
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading

import pytest
import sysv_ipc

import util
from util import oserror

EVENTS_KEPT = 4096              # src/events.h
READERS_PER_UID = 64


def built_with_bpf():
    with open(os.path.join(util.BUILD, "config.h")) as f:
        return "#define HAVE_LIBBPF 1" in f.read()


SOURCES = [pytest.param("bpf", marks=pytest.mark.skipif(
               not built_with_bpf(), reason="built without libbpf (meson -Dbpf): no eBPF source")),
           "watch"]


class Reader:
    """An open /events, read line by line as JSON objects."""

    def __init__(self, mnt, flags=0):
        self.fd = os.open(mnt.p("events"), os.O_RDONLY | flags)
        self.pending = b""

    def close(self):
        os.close(self.fd)

    def line(self):
        """The next event: waits in read(2), as a reader would."""
        while b"\n" not in self.pending:
            chunk = os.read(self.fd, 65536)
            assert chunk, "read of /events returned 0"
            assert chunk.endswith(b"\n"), f"a read ended within a line: {chunk!r}"
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def until(self, predicate):
        """Read past other events (the rest of the machine) to the first that matches."""
        while True:
            e = self.line()
            if predicate(e):
                return e


def about(kind, ident, op=None):
    return lambda e: e.get("kind") == kind and e.get("id") == ident and (op is None or e["op"] == op)


@pytest.fixture(params=SOURCES)
def source(request):
    return request.param


@pytest.fixture
def emnt(mount_with, source):
    m = mount_with(f"events={source}", debug=True)
    m.source = source
    return m


def test_the_root_has_a_read_only_events_file_that_is_no_directory(mnt):
    st = os.stat(mnt.p("events"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444 and st.st_size == 0
    assert "events" in os.listdir(mnt.path)
    assert oserror(os.open, mnt.p("events"), os.O_WRONLY) == "EACCES"
    assert oserror(os.listdir, mnt.p("events")) == "ENOTDIR"
    assert oserror(os.stat, mnt.p("events", "x")) == "ENOTDIR"
    assert oserror(os.unlink, mnt.p("events")) == "EPERM"
    assert oserror(os.truncate, mnt.p("events"), 0) == "EPERM"
    fd = os.open(mnt.p("events"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert oserror(os.read, fd, 4096) == "EAGAIN"       # nothing since the open
        # A seek is allowed, as on a regular file, and rewinds nothing: no history is kept.
        assert os.lseek(fd, 0, os.SEEK_SET) == 0 and oserror(os.read, fd, 4096) == "EAGAIN"
        assert oserror(os.lseek, fd, 0, os.SEEK_DATA) == "ESPIPE"
    finally:
        os.close(fd)


def blocked_in_read(p):
    """Is p waiting for a FUSE reply in read(2) (not in open(2), before it is a reader)?"""
    if not util.fuse_waiting(p.pid):
        return False
    with open(f"/proc/{p.pid}/syscall") as f:
        return f.read().split()[0] == "0"


def test_shell_tools_read_it_as_a_stream(mnt, ipc, tmp_path):
    """What docs/admin.md says of head, cp, dd and tar on /events, where tmpfs would give an
    empty file."""
    # head -n 1 waits for the next event, prints it whole, and does not complain of the seek
    # back over what it read past the line (it does when a regular file refuses the seek).
    head = subprocess.Popen(["head", "-n", "1", mnt.p("events")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    util.wait_until(lambda: blocked_in_read(head) or head.poll() is not None)
    ipc.sem()
    out, err = head.communicate()
    assert (head.returncode, err) == (0, "") and out.count("\n") == 1 and "op" in json.loads(out)

    # cp waits for events until interrupted, and SIGINT ends it.
    cp = subprocess.Popen(["cp", mnt.p("events"), str(tmp_path / "copy")])
    util.wait_until(lambda: blocked_in_read(cp) or cp.poll() is not None)
    cp.send_signal(signal.SIGINT)
    assert cp.wait() == -signal.SIGINT

    # dd iflag=nonblock stops at EAGAIN.
    dd = subprocess.run(["dd", f"if={mnt.p('events')}", "iflag=nonblock", "of=/dev/null"],
                        capture_output=True, text=True)
    assert dd.returncode == 1 and "Resource temporarily unavailable" in dd.stderr, dd.stderr

    # tar archives the empty file its size says, without reading it.
    archive = tmp_path / "events.tar"
    tar = subprocess.run(["tar", "cf", str(archive), "-C", mnt.path, "events"],
                         capture_output=True, text=True)
    assert (tar.returncode, tar.stderr) == (0, "")
    with tarfile.open(archive) as t:
        assert [(m.name, m.size, m.isreg()) for m in t.getmembers()] == [("events", 0, True)]


def test_events_off_leaves_no_file(mount_with):
    m = mount_with("events=off", debug=True)
    assert "events" not in os.listdir(m.path)
    assert oserror(os.stat, m.p("events")) == "ENOENT"
    assert "events: off (-o events=off)" in m.output()


def test_the_log_says_which_source_and_a_bad_choice_is_refused(emnt):
    log = emnt.output()
    if emnt.source == "bpf":
        assert "events: eBPF on the raw syscall tracepoints (-o events=bpf)" in log
    else:
        assert "events: the listing watcher (-o events=watch)" in log
    r = subprocess.run([util.IPCFS, "-f", "-o", "events=sometimes", emnt.path],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "events=sometimes: expected auto, bpf, watch or off" in r.stderr


def test_a_daemon_that_may_not_load_ebpf_falls_back_or_refuses():
    """A daemon run by a user (no CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN) uses the watcher
    under auto, saying why, and with events=bpf refuses to mount, saying why."""
    if not built_with_bpf():
        pytest.skip("built without libbpf (meson -Dbpf): no eBPF source")
    as_user = ["setpriv", "--reuid=2001", "--regid=2001", "--clear-groups", util.IPCFS]
    mountpoint = tempfile.mkdtemp(prefix="ipcfs-mnt-")     # in /tmp, where user 2001 may go
    os.chown(mountpoint, 2001, 2001)
    with tempfile.NamedTemporaryFile("w", prefix="ipcfs-as-2001-", delete=False) as f:
        f.write("#!/bin/sh\nexec " + " ".join(as_user) + " \"$@\"\n")
        wrapper = f.name
    os.chmod(wrapper, 0o755)
    try:
        daemon_as_user(wrapper, mountpoint, as_user)
    finally:
        os.unlink(wrapper)
        os.rmdir(mountpoint)


def daemon_as_user(wrapper, mountpoint, as_user):
    m = util.Mount(options=("events=auto",), debug=True, binary=wrapper,
                   mountpoint=mountpoint)
    try:
        log = m.output()
        assert "events: eBPF cannot be used (loading the eBPF program" in log
        assert "the listing watcher instead" in log
        assert util.errno_of(2001, 2001, f"os.close(os.open({m.p('events')!r}, os.O_RDONLY))") == "OK"
    finally:
        assert m.unmount() == 0
    r = subprocess.run(as_user + ["-f", "-o", "events=bpf", mountpoint],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "ipcfs: events=bpf: loading the eBPF program" in r.stderr


def run_native(*cmd):
    """Run a native program; its pid and stdout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.communicate()[0]
    assert p.returncode == 0
    return p.pid, out


def test_native_create_and_remove_are_named(emnt, ipc):
    events = Reader(emnt)
    try:
        maker, out = run_native("ipcmk", "-Q", "-p", "0640")
        ident = int(out.split(":")[1])
        ipc.track("msg", ident)
        key = int(util.proc_sysvipc("msg")[ident]["key"]) & 0xffffffff
        created = events.until(about("msg", ident, "create"))
        assert created["key"] == f"0x{key:08x}" and created["uid"] == 0
        if emnt.source == "bpf":
            assert (created["pid"], created["comm"]) == (maker, "ipcmk")
        else:       # queues record no creator pid
            assert created["pid"] is None and created["comm"] is None
        remover, _ = run_native("ipcrm", "-q", str(ident))
        removed = events.until(about("msg", ident, "remove"))
        assert removed["key"] == f"0x{key:08x}"
        if emnt.source == "bpf":
            assert (removed["pid"], removed["comm"], removed["uid"]) == (remover, "ipcrm", 0)
        else:
            assert removed["pid"] is None and removed["uid"] is None
        assert removed["time"] >= created["time"]
    finally:
        events.close()


MAKE_SEGMENT = """
import os, sys, sysv_ipc
seg = sysv_ipc.SharedMemory(int(sys.argv[1]), sysv_ipc.IPC_CREX, mode=0o600, size=4096)
print(seg.id, os.getpid(), flush=True)
sys.stdin.read()        # keep the segment attached until told
seg.detach()
"""


def test_a_segment_names_its_creator_and_the_uid_it_ran_as(emnt, ipc):
    """The creator of a segment: its pid, comm and uid (the watcher has them from cpid)."""
    events = Reader(emnt)
    key = ipc.fresh_key()
    ipc.keys.append(("shm", key))
    p = subprocess.Popen(["setpriv", "--reuid=2001", "--regid=2001", "--clear-groups",
                          "/usr/bin/python3", "-c", MAKE_SEGMENT, str(key)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ident, pid = map(int, p.stdout.readline().split())
        created = events.until(about("shm", ident, "create"))
        assert created == {**created, "key": f"0x{key:08x}", "pid": pid, "comm": "python3",
                           "uid": 2001}
        if emnt.source == "bpf":
            attached = events.until(about("shm", ident, "attach"))
            assert (attached["pid"], attached["uid"]) == (pid, 2001)
        p.stdin.close()
        assert p.wait() == 0
        if emnt.source == "bpf":
            detached = events.until(about("shm", ident, "detach"))
            assert (detached["pid"], detached["key"]) == (pid, f"0x{key:08x}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        events.close()


SET_MODE = """
import sys, sysv_ipc
q = sysv_ipc.MessageQueue(int(sys.argv[1]))
q.mode = 0o640
"""


def test_a_native_ipc_set_is_a_set(emnt, ipc):
    q = ipc.msg(mode=0o600)
    events = Reader(emnt)
    try:
        setter = subprocess.Popen(["/usr/bin/python3", "-c", SET_MODE, str(q.key)])
        assert setter.wait() == 0
        changed = events.until(about("msg", q.id, "set"))
        assert changed["key"] == f"0x{q.key:08x}"
        if emnt.source == "bpf":
            assert (changed["pid"], changed["comm"]) == (setter.pid, "python3")
        else:
            assert changed["pid"] is None
    finally:
        events.close()


def test_each_open_sees_events_from_its_open_on(emnt, ipc):
    first = Reader(emnt)
    try:
        a = ipc.sem()
        assert first.until(about("sem", a.id, "create"))
        second = Reader(emnt)
        try:
            b = ipc.sem()
            assert first.until(about("sem", b.id, "create"))
            # The second reader's first event about these sets is b's creation, never a's.
            e = second.until(lambda e: e.get("kind") == "sem" and e.get("id") in (a.id, b.id))
            assert (e["id"], e["op"], e["key"]) == (b.id, "create", f"0x{b.key:08x}")
            if emnt.source == "bpf":
                assert (e["pid"], e["comm"]) == (os.getpid(), comm_of(os.getpid()))
        finally:
            second.close()
    finally:
        first.close()


def comm_of(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def test_a_blocked_read_is_woken_by_the_next_event_and_poll_says_so(emnt, ipc):
    events = Reader(emnt)
    got = []
    blocked = threading.Thread(target=lambda: got.append(events.until(lambda e: e.get("kind") == "msg")))
    try:
        poller = select.poll()
        poller.register(events.fd, select.POLLIN)
        blocked.start()
        q = ipc.msg()
        blocked.join()
        assert got[0]["id"] == q.id and got[0]["op"] == "create"
        ipc.sem()
        assert poller.poll() and events.until(lambda e: e.get("kind") == "sem")["op"] == "create"
    finally:
        events.close()


READ_UNTIL_SIGNALLED = """
import os, signal, sys
class Signalled(Exception):
    pass
def stop(*args):
    raise Signalled()      # a handler that returns would make Python read again (PEP 475)
signal.signal(signal.SIGUSR1, stop)
fd = os.open(sys.argv[1], os.O_RDONLY)
print("open", flush=True)
try:
    while True:
        os.read(fd, 65536)
except Signalled:
    print("interrupted", flush=True)
"""


def test_a_signal_ends_a_blocked_read(emnt):
    """A read waiting for the next event holds no thread, and a signal ends it at once."""
    p = subprocess.Popen(["/usr/bin/python3", "-c", READ_UNTIL_SIGNALLED, emnt.p("events")],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "open\n"
        util.wait_blocked(p)
        p.send_signal(signal.SIGUSR1)
        assert p.stdout.readline() == "interrupted\n"
        assert p.wait() == 0
        util.wait_until(lambda: "INTERRUPT" in emnt.output())
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_slow_reader_loses_the_oldest_and_is_told_how_many(emnt, ipc):
    """More than EVENTS_KEPT events while one reader reads none: its first line says how many
    it lost, and what follows is the newest, in order.  A reader that keeps up loses none."""
    idle = Reader(emnt)
    keeping_up = Reader(emnt)
    n = EVENTS_KEPT // 2 + 100      # sets: each is a create and a remove
    try:
        made = [ipc.sem() for _ in range(n)]
        ids = {s.id for s in made}
        seen = 0
        while seen < n:
            e = keeping_up.line()
            assert e["op"] != "lost"
            seen += e.get("kind") == "sem" and e.get("id") in ids and e["op"] == "create"
        for s in made:
            s.remove()
        seen = 0
        while seen < n:
            e = keeping_up.line()
            assert e["op"] != "lost"
            seen += e.get("kind") == "sem" and e.get("id") in ids and e["op"] == "remove"
        lost = idle.line()
        assert lost["op"] == "lost" and set(lost) == {"op", "count"}
        assert lost["count"] >= 2 * n - EVENTS_KEPT
        rest = [idle.line() for _ in range(EVENTS_KEPT)]
        ours = [e for e in rest if e.get("id") in ids]
        assert ours[-1]["op"] == "remove"
        if emnt.source == "bpf":    # the watcher tells one round's removes in no order
            assert ours[-1]["id"] == made[-1].id
    finally:
        idle.close()
        keeping_up.close()


READ_IN_CHILD_PID_NS = """
import json, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print("open", flush=True)
sys.stdin.readline()
buf = b""
while buf.count(b"\\n") < 1 or not any(b'"kind": "shm"' in l for l in buf.splitlines()):
    buf += os.read(fd, 65536)
print([l for l in buf.decode().splitlines() if '"kind": "shm"' in l][0], flush=True)
"""


def test_a_reader_in_a_child_pid_namespace_is_not_told_outside_pids(emnt, ipc):
    """/proc in a child pid namespace shows no process outside it: nor does /events."""
    p = subprocess.Popen(["unshare", "--pid", "--fork", "/usr/bin/python3", "-c",
                          READ_IN_CHILD_PID_NS, emnt.p("events")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "open\n"
        seg = ipc.shm()
        p.stdin.write("go\n")
        p.stdin.flush()
        e = json.loads(p.stdout.readline())
        assert e["id"] == seg.id and e["op"] == "create"
        assert e["pid"] is None and e["comm"] is None and e["uid"] == 0
        assert p.wait() == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_readers_are_bounded_per_uid(mnt):
    """Each reader costs the daemon a place in the ring's reader list: 64 per uid, and
    another uid still opens."""
    code = (f"import os\nfds = [os.open({mnt.p('events')!r}, os.O_RDONLY) for _ in range({READERS_PER_UID})]\n"
            f"os.open({mnt.p('events')!r}, os.O_RDONLY)\n")
    assert util.errno_of(2001, 2001, code) == "EMFILE"
    assert util.errno_of(2002, 2002, f"os.close(os.open({mnt.p('events')!r}, os.O_RDONLY))") == "OK"


def test_readers_coming_and_going_never_stop_the_source_under_one_that_stays(emnt, ipc):
    """The source runs while any reader is open: others opening and closing at the same time
    (the last of them leaving just as a new one opens) never leave a reader without events."""
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            os.close(os.open(emnt.p("events"), os.O_RDONLY))

    churners = [threading.Thread(target=churn) for _ in range(3)]
    for t in churners:
        t.start()
    try:
        for _ in range(30):
            stays = Reader(emnt)
            try:
                s = ipc.sem()
                assert stays.until(about("sem", s.id, "create"))
            finally:
                stays.close()
            s.remove()
    finally:
        stop.set()
        for t in churners:
            t.join()


CHURN = """
import sys, sysv_ipc
while True:
    sysv_ipc.Semaphore(int(sys.argv[1]), sysv_ipc.IPC_CREX).remove()
"""


def test_the_daemon_stops_cleanly_while_a_read_waits_and_events_come(mount_with, source, ipc):
    """SIGTERM with a reader parked and objects coming and going: the source stops before the
    session goes (its thread would answer the parked read through a session that is gone)."""
    m = mount_with(f"events={source}")
    reader = subprocess.Popen(["/usr/bin/python3", "-c", READ_UNTIL_SIGNALLED, m.p("events")],
                              stdout=subprocess.PIPE, text=True)
    key = ipc.fresh_key()
    ipc.keys.append(("sem", key))       # the set the churn may leave when it is killed
    churn = subprocess.Popen(["/usr/bin/python3", "-c", CHURN, str(key)])
    try:
        assert reader.stdout.readline() == "open\n"
        util.wait_blocked(reader)
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(timeout=60) == 0        # a liveness bound: it hung before
    finally:
        for p in (churn, reader):
            p.kill()
            p.wait()
