# SPDX-License-Identifier: GPL-2.0-only
"""/chan/<n>: broadcast channels through ipcfs (built-in backend on the host)."""
import errno
import os
import select
import signal
import subprocess
import sys
import threading

import pytest

from util import Child, fuse_waiting, oserror, records_by_writer, wait_blocked, wait_until


@pytest.fixture(params=["builtin"])
def chan(request, mount_with):
    """The mount, for each backend.  (The kernel backend is not built yet: see docs/chan.md.)"""
    m = mount_with(f"chan={request.param}", "chan_size=65536")
    return m


def path(m, n=0):
    return m.p("chan", str(n))


def test_listing_and_attributes(chan):
    assert sorted(os.listdir(chan.p("chan"))) == ["0", "1", "2", "3"]
    st = os.stat(path(chan))
    assert st.st_size == 0
    assert st.st_mode & 0o777 == 0o600          # the default chan_mode: owner only
    os.chmod(path(chan), 0o664)
    os.chown(path(chan), 2001, 3001)
    st = os.stat(path(chan))
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o664, 2001, 3001)
    assert oserror(os.truncate, path(chan), 0) == "EINVAL"
    assert oserror(os.stat, chan.p("chan", "4")) == "ENOENT"


def test_echo_reaches_every_cat(chan):
    readers = [Child(["head", "-n", "1", path(chan)], stdout=subprocess.PIPE) for _ in range(4)]
    try:
        for r in readers:
            wait_blocked(r)
        subprocess.run(["sh", "-c", f"echo data > {path(chan)}"], check=True)   # O_TRUNC: ignored
        for r in readers:
            assert r.stdout.read() == b"data\n"
            assert r.wait() == 0
    finally:
        for r in readers:
            r.__exit__(None, None, None)


def test_record_boundaries_with_binary_data(chan):
    fd = os.open(path(chan), os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path(chan), os.O_WRONLY)
    try:
        records = [b"\x00", b"a\x00b\xff" * 100, os.urandom(16384), b"x" * (65536 // 4)]
        for r in records:
            assert os.write(w, r) == len(r)
        assert [os.read(fd, 1 << 20) for _ in records] == records
        assert oserror(os.read, fd, 10) == "EAGAIN"
        assert oserror(os.write, w, b"y" * (65536 // 4 + 1)) == "EMSGSIZE"
        assert os.getxattr(path(chan), "user.chan.records") == b"4"
        assert int(os.getxattr(path(chan), "user.chan.bytes")) == sum(map(len, records))
    finally:
        os.close(fd)
        os.close(w)


def test_late_joiner_partial_reads_and_seeks(chan):
    w = os.open(path(chan), os.O_WRONLY)
    try:
        os.write(w, b"early")
        fd = os.open(path(chan), os.O_RDONLY | os.O_NONBLOCK)
        assert oserror(os.read, fd, 10) == "EAGAIN"                 # starts at the live end
        record = os.urandom(100)
        os.write(w, record)
        assert [os.read(fd, 40) for _ in range(3)] == [record[:40], record[40:80], record[80:]]
        assert os.lseek(fd, 0, os.SEEK_SET) == 0                    # replay what is held
        assert os.read(fd, 100) == b"early"
        assert os.read(fd, 100) == record
        os.lseek(fd, 0, os.SEEK_SET)
        os.lseek(fd, 0, os.SEEK_END)                                # back to live
        assert oserror(os.read, fd, 10) == "EAGAIN"
        os.close(fd)
    finally:
        os.close(w)


def test_overrun_gives_epipe_once(mount_with):
    m = mount_with("chan=builtin", "chan_size=4096")
    fd = os.open(path(m), os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path(m), os.O_WRONLY)
    try:
        for i in range(300):                        # 24 bytes each: 4096 holds 170
            os.write(w, b"%08d" % i)
        p = select.poll()
        p.register(fd, select.POLLIN | select.POLLPRI)
        assert p.poll(0)[0][1] & (select.POLLERR | select.POLLPRI)
        assert oserror(os.read, fd, 100) == "EPIPE"
        lost = int(os.getxattr(path(m), "user.chan.dropped"))
        assert lost > 0
        assert os.read(fd, 100) == b"%08d" % lost   # continues at the oldest held
        rest = [os.read(fd, 100) for _ in range(299 - lost)]
        assert rest == [b"%08d" % i for i in range(lost + 1, 300)]
        assert oserror(os.read, fd, 100) == "EAGAIN"
    finally:
        os.close(fd)
        os.close(w)


def test_ctrl_c_ends_a_blocked_reader(chan):
    with Child(["cat", path(chan)], stdout=subprocess.PIPE) as cat:
        wait_blocked(cat)
        assert os.getxattr(path(chan), "user.chan.readers") == b"1"
        cat.send_signal(signal.SIGINT)
        assert cat.wait() == -signal.SIGINT
    wait_until(lambda: os.getxattr(path(chan), "user.chan.readers") == b"0")
    # Nothing stuck: the channel still works for the next reader.
    fd = os.open(path(chan), os.O_RDONLY | os.O_NONBLOCK)
    with open(path(chan), "wb", buffering=0) as w:
        w.write(b"after")
    assert os.read(fd, 10) == b"after"
    os.close(fd)


def test_sigkilled_reader_leaves_nothing_stuck(chan):
    with Child(["cat", path(chan)]) as cat:
        wait_blocked(cat)
        cat.kill()
        cat.wait()
    wait_until(lambda: os.getxattr(path(chan), "user.chan.readers") == b"0")


def test_poll_select_and_epoll(chan):
    fd = os.open(path(chan), os.O_RDONLY)
    try:
        ep = select.epoll()
        ep.register(fd, select.EPOLLIN)
        assert ep.poll(0) == []
        got = []
        t = threading.Thread(target=lambda: got.append(ep.poll(-1)))
        t.start()
        with open(path(chan), "wb", buffering=0) as w:
            w.write(b"ping")
        t.join()
        assert got[0][0][1] & select.EPOLLIN                         # woken by the notification
        r, wr, _ = select.select([fd], [fd], [], 0)
        assert r == [fd] and wr == [fd]
        assert os.read(fd, 10) == b"ping"
        assert select.select([fd], [], [], 0)[0] == []
        ep.close()
    finally:
        os.close(fd)


def test_sixteen_writers_never_tear_records(mount_with):
    m = mount_with("chan=builtin", "chan_size=16777216")
    fd = os.open(path(m), os.O_RDONLY | os.O_NONBLOCK)
    code = ("import os, sys\nw = os.open(sys.argv[1], os.O_WRONLY)\nme = int(sys.argv[2])\n"
            "for i in range(200):\n    os.write(w, bytes([65 + me]) * (1 + (i * 97 + me) % 4000))\n")
    try:
        ps = [subprocess.Popen([sys.executable, "-c", code, path(m), str(k)]) for k in range(16)]
        assert all(p.wait() == 0 for p in ps)
        counts = records_by_writer(fd)
        assert counts == {65 + k: 200 for k in range(16)}
    finally:
        os.close(fd)


def test_300_blocked_readers_do_not_stall_the_daemon(chan, ipc):
    fds = [os.open(path(chan), os.O_RDONLY) for _ in range(300)]
    got = [None] * 300

    def reader(i):
        got[i] = os.read(fds[i], 100)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(300)]
    try:
        for t in threads:
            t.start()
        wait_until(lambda: all(t.native_id and fuse_waiting(t.native_id) for t in threads))
        # Other requests still complete while 300 reads are parked.
        seg = ipc.shm(size=100)
        assert f"0x{seg.key:08x}" in os.listdir(chan.p("shm"))
        assert len(os.listdir(chan.p("chan"))) == 4
        with open(path(chan, 1), "wb", buffering=0) as w:
            w.write(b"other channel")
        with open(path(chan), "wb", buffering=0) as w:
            w.write(b"all")
        for t in threads:
            t.join()
        assert got == [b"all"] * 300
    finally:
        for fd in fds:
            os.close(fd)
