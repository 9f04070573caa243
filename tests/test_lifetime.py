# SPDX-License-Identifier: GPL-2.0-only
"""Regression tests for open-file lifetimes (kind.h, "Lifetime of open files").

The moment the daemon replies, the caller may close the file and RELEASE may
run on another worker thread.  Each test here races a reply against the
caller's close (or an INTERRUPT against a reply) many times; before the rule,
each one aborted the daemon or, under ASan, reported a heap-use-after-free.
The mount fixture fails a test whose daemon died, printed a warning or a
sanitizer report, or did not exit 0 at unmount.
"""
import errno
import os
import signal
import subprocess

import pytest

import util
from util import Child, io, name_of, sem_values, wait_blocked

# Fewer in the VM, where every request is emulated (TCG).
IN_VM = bool(os.environ.get("IPCFS_IN_VM"))
ROUNDS = 200 if IN_VM else 1500
RACE_ROUNDS = 8 if IN_VM else 40

# Open, read (non-blocking where a read could wait), close, ROUNDS times, as another
# user; errors that an object removed or a queue left empty may give are fine.
LOOP = """
import errno, os, sys
path, rounds = sys.argv[1], int(sys.argv[2])
for _ in range(rounds):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        sys.exit(f"open: {e}")
    try:
        os.read(fd, 4096)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EIDRM):
            sys.exit(f"read: {e}")
    os.close(fd)
"""


def two_users_loop(path, rounds=ROUNDS):
    """Two unprivileged users run LOOP on path at once; both must finish cleanly."""
    procs = [subprocess.Popen(["setpriv", f"--reuid={uid}", "--regid=3001", "--clear-groups",
                               "/usr/bin/python3", "-c", LOOP, path, str(rounds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for uid in (2001, 2003)]
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err


def test_cat_loops_of_two_users_on_a_sem_file(mnt, ipc):
    """The report: `cat` of a 0644 set in two users' loops aborted the daemon
    (g_mutex_clear on a locked mutex: sem_read replied under its file's lock)."""
    ident = ipc.sem(nsems=3, mode=0o644)
    two_users_loop(mnt.p("sem", f"id-{ident}"))
    assert sem_values(ident) == [0, 0, 0]
    assert os.listdir(mnt.p("sem"))     # the daemon still answers


def test_read_loops_of_two_users_on_shm_and_msg(mnt, ipc):
    seg = ipc.shm(size=8192, mode=0o644)
    q = ipc.msg(mode=0o644)
    for i in range(200):
        q.send(b"m%d" % i, type=1)
    two_users_loop(mnt.p("shm", name_of(seg.key)))
    two_users_loop(mnt.p("msg", name_of(q.key)), rounds=500)
    assert q.current_messages == 0      # 1000 reads took all 200, each once


@pytest.fixture
def open_chan(chan_with):
    """Channels every user may open, on each backend (the kernel one only in the VM)."""
    return chan_with(mode=0o666)


def test_read_loops_of_two_users_on_a_channel(open_chan):
    path = open_chan.p("chan", "0")
    with Child(["/usr/bin/python3", "-c", f"""
import os
fd = os.open({path!r}, os.O_WRONLY)
for i in range({ROUNDS * 10}):
    os.write(fd, b"record %d" % i)
"""]) as writer:
        two_users_loop(path)
        assert writer.wait() == 0


def test_parked_reads_interrupted_while_a_record_arrives(open_chan):
    """An INTERRUPT racing the write that answers a parked read, then an
    immediate close: the interrupt callback must not outlive the file, and
    each read ends with exactly one answer, the record or EINTR."""
    path = open_chan.p("chan", "0")
    wfd = os.open(path, os.O_WRONLY)
    try:
        for round_ in range(RACE_ROUNDS):
            readers = [io("read", path, 4096, 1) for _ in range(6)]
            try:
                for p in readers:
                    wait_blocked(p)
                for p in readers[::2]:
                    p.send_signal(signal.SIGINT)
                os.write(wfd, b"round %d" % round_)
                for p in readers:
                    line = p.stdout.readline().split()
                    assert line in (["MSG", (b"round %d" % round_).hex()], ["ERR", "EINTR"]), line
            finally:
                for p in readers:
                    p.__exit__(None, None, None)
    finally:
        os.close(wfd)


def test_msg_reads_interrupted_while_a_message_arrives(mnt, ipc):
    """The same race on a queue: every message is read exactly once or stays queued."""
    q = ipc.msg(mode=0o666)
    path = mnt.p("msg", name_of(q.key))
    got = []
    for round_ in range(30):
        readers = [io("read", path, 4096, 1) for _ in range(4)]
        try:
            for p in readers:
                wait_blocked(p)
            for p in readers[:2]:
                p.send_signal(signal.SIGINT)
            for i in range(4):      # one for each reader: an interrupted one may still get its own
                q.send(b"%d.%d" % (round_, i), type=1)
            for p in readers:
                line = p.stdout.readline().split()
                assert line[0] in ("MSG", "ERR"), line
                if line[0] == "MSG":
                    got.append(bytes.fromhex(line[1]))
                else:
                    assert line == ["ERR", "EINTR"]
        finally:
            for p in readers:
                p.__exit__(None, None, None)
        while q.current_messages:     # what interrupted readers left, so the next round blocks
            got.append(q.receive()[0])
    assert sorted(got) == sorted(b"%d.%d" % (r, i) for r in range(30) for i in range(4))


def test_undo_is_applied_when_the_daemon_stops_with_the_file_open(ipc):
    """No RELEASE comes for a file still open when the daemon is stopped (SIGTERM,
    systemctl stop): fs.c releases it at exit, so its undo record is applied as
    exit(2) would, and nothing leaks (found by LeakSanitizer)."""
    ident = ipc.sem(nsems=2)
    util.sem_setall(ident, [5, 5])
    m = util.Mount(options=("allow_other",))
    fd = os.open(m.p("sem", f"id-{ident}"), os.O_RDWR)
    try:
        os.write(fd, b"0:-2 1:+3 undo\n")
        assert sem_values(ident) == [3, 8]
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait() == 0, m.output()
        assert sem_values(ident) == [5, 5]
    finally:
        try:
            os.close(fd)
        except OSError as e:     # FLUSH on a connection whose daemon is gone
            # (over io_uring the kernel ends the rings' requests as aborted)
            assert e.errno in ((errno.ENOTCONN, errno.ECONNABORTED) if util.OVER_IO_URING
                               else (errno.ENOTCONN,)), e
        assert m.unmount() == 0
    assert not m.problems(), m.problems()
