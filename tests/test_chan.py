# SPDX-License-Identifier: GPL-2.0-only
"""/chan/<n>: broadcast channels through ipcfs, on both backends.

The built-in backend runs on the host.  The kernel backend needs channel.ko,
which only the VM can load: tests/run runs this file again inside tests/vm/run
with `-k kernel`, where each test loads the module, mounts ipcfs on it with
chan=kernel, and unloads it afterwards.
"""
import errno
import os
import select
import signal
import subprocess
import sys
import threading

import pytest

import util  # noqa: E402

from util import (CHANNEL_KO, Child, fuse_waiting, name_of, open_close, oserror, records_by_writer,
                  wait_blocked, wait_until)



@pytest.fixture
def chan(chan_with):
    return chan_with(65536)


def path(m, n=0):
    return m.p("chan", str(n))


def test_listing_and_attributes(chan, chan_backend):
    assert sorted(os.listdir(chan.p("chan"))) == ["0", "1", "2", "3"]
    st = os.stat(path(chan))
    assert st.st_size == 0
    if chan_backend == "builtin":
        assert st.st_mode & 0o777 == 0o600      # the default chan_mode: owner only
    else:
        node = os.stat("/dev/channel0")         # the device node's mode and owner
        assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == \
            (node.st_mode & 0o777, node.st_uid, node.st_gid)
    os.chmod(path(chan), 0o664)
    os.chown(path(chan), 2001, 3001)
    st = os.stat(path(chan))
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o664, 2001, 3001)
    if chan_backend == "kernel":
        node = os.stat("/dev/channel0")         # chmod and chown changed the node
        assert (node.st_mode & 0o777, node.st_uid, node.st_gid) == (0o664, 2001, 3001)
    assert oserror(os.truncate, path(chan), 0) == "EINVAL"
    assert oserror(os.stat, chan.p("chan", "4")) == "ENOENT"


def test_echo_reaches_every_cat(chan):
    readers = [Child(["head", "-n", "1", path(chan)], stdout=subprocess.PIPE) for _ in range(4)]
    try:
        # Opened first (a new reader starts at the live end), then blocked.
        wait_until(lambda: os.getxattr(path(chan), "user.chan.readers") == b"4")
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


def test_overrun_gives_epipe_once(chan_with):
    m = chan_with(4096)
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


def test_dropped_counts_every_readers_losses_told_or_not(chan_with):
    """user.chan.dropped sums what every reader lost to overruns, told yet or not, and
    keeps what readers lost before they seeked away or closed: on both backends alike
    (the module's `dropped` counted only what a read() had noticed)."""
    m = chan_with(4096)
    a = os.open(path(m), os.O_RDONLY | os.O_NONBLOCK)
    b = os.open(path(m), os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path(m), os.O_WRONLY)

    def dropped():
        return int(os.getxattr(path(m), "user.chan.dropped"))
    try:
        for i in range(100):                        # 24 bytes each: 4096 holds 170
            os.write(w, b"%08d" % i)
        assert os.read(b, 100) == b"00000000"
        for i in range(100, 300):
            os.write(w, b"%08d" % i)
        total = dropped()                           # neither reader has been told
        assert oserror(os.read, a, 100) == "EPIPE"
        oldest = int(os.read(a, 100))               # a lost 0..oldest-1, b 1..oldest-1
        assert total == 2 * oldest - 1
        assert dropped() == total
        os.close(b)
        b = None
        assert dropped() == total
        os.lseek(a, 0, os.SEEK_END)
        assert dropped() == total
    finally:
        for fd in (a, b, w):
            if fd is not None:
                os.close(fd)


def test_ctrl_c_ends_a_blocked_reader(chan):
    with Child(["cat", path(chan)], stdout=subprocess.PIPE) as cat:
        wait_blocked(cat)           # in OPEN or in READ: either way, then it is a reader
        wait_until(lambda: os.getxattr(path(chan), "user.chan.readers") == b"1")
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


def test_readers_that_leave_at_once(chan):
    """Each reader exits the moment its read returns, so its RELEASE races the
    end of the reply (the daemon aborts, failing the test, if it frees too soon)."""
    n = util.RING_WAITERS if util.OVER_IO_URING else 8     # as many as may wait at once
    for _ in range(20):
        readers = [Child(["head", "-c", "1", path(chan)], stdout=subprocess.PIPE)
                   for _ in range(n)]
        try:
            wait_until(lambda: os.getxattr(path(chan), "user.chan.readers") == b"%d" % n)
            for r in readers:
                wait_blocked(r)         # opened (above), so the record below is theirs
            with open(path(chan), "wb", buffering=0) as w:
                w.write(b"x")
            assert [r.stdout.read() for r in readers] == [b"x"] * n
            assert [r.wait() for r in readers] == [0] * n
        finally:
            for r in readers:
                r.__exit__(None, None, None)


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


def test_sixteen_writers_never_tear_records(chan_with):
    m = chan_with(16777216)
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


@pytest.mark.skipif(util.OVER_IO_URING, reason="over io_uring at most 7 requests wait (src/block.c)")
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
        assert name_of(seg.key) in os.listdir(chan.p("shm"))
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


# ---- Backend choice, and the kernel backend against the device itself ----

def test_chan_kernel_without_the_module_refuses_to_mount(tmp_path):
    if os.path.exists("/dev/channel0"):
        pytest.skip("channel.ko is loaded here")
    from util import IPCFS
    r = subprocess.run([IPCFS, "-f", "-o", "chan=kernel", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "chan=kernel: /dev/channel0" in r.stderr and "chan=builtin" in r.stderr


def test_chan_auto_picks_what_is_there(mount_with):
    if os.path.exists("/dev/channel0"):
        pytest.skip("channel.ko is loaded here; the kernel tests cover auto")
    m = mount_with(debug=True)
    os.listdir(m.p("chan"))
    assert "chan: built-in backend" in m.output()


def sysfs(name, ch=0):
    with open(f"/sys/class/channel/channel{ch}/{name}") as f:
        return int(f.read())


@pytest.mark.parametrize("chan_backend", ["kernel"], indirect=True)
def test_kernel_backend_is_the_device(chan, chan_backend):
    readers = sysfs("readers")
    fd = os.open(path(chan), os.O_RDONLY | os.O_NONBLOCK)      # one device open per FUSE open
    dev = os.open("/dev/channel0", os.O_RDWR | os.O_NONBLOCK)
    try:
        assert sysfs("readers") == readers + 2
        with open(path(chan), "wb", buffering=0) as w:
            w.write(b"through ipcfs")
        assert os.read(dev, 100) == b"through ipcfs"
        os.write(dev, b"straight to the device")
        assert os.read(fd, 100) == b"through ipcfs"
        assert os.read(fd, 100) == b"straight to the device"
        for name in ("records", "bytes", "readers", "dropped"):
            assert int(os.getxattr(path(chan), f"user.chan.{name}")) == sysfs(name)
    finally:
        os.close(fd)
        os.close(dev)


@pytest.mark.parametrize("chan_backend", ["kernel"], indirect=True)
def test_kernel_backend_bounds_the_daemons_device_descriptors(chan, chan_backend):
    """Each open holds a daemon descriptor: one uid may hold 1024 of them (docs/design.md)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), max(hard, 2048)))
    fds = []
    try:
        for _ in range(1024):
            fds.append(os.open(path(chan), os.O_RDONLY | os.O_NONBLOCK))
        assert oserror(open_close, path(chan), os.O_RDONLY | os.O_NONBLOCK) == "EMFILE"
        os.close(fds.pop())

        def reopened():     # RELEASE, which gives the share back, comes after close returns
            try:
                fds.append(os.open(path(chan), os.O_RDONLY | os.O_NONBLOCK))
                return True
            except OSError as e:
                assert e.errno == errno.EMFILE
                return False
        wait_until(reopened)
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("chan_backend", ["kernel"], indirect=True)
def test_kernel_backend_follows_the_module(chan_backend, mount_with, request):
    subprocess.run(["insmod", CHANNEL_KO, "nr_channels=2"], check=True)
    request.addfinalizer(lambda: os.path.exists("/sys/module/channel") and
                         subprocess.run(["rmmod", "channel"], check=True))
    m = mount_with(debug=True)                  # chan=auto
    assert sorted(os.listdir(m.p("chan"))) == ["0", "1"]
    assert "chan: kernel backend" in m.output()
    fd = os.open(path(m), os.O_RDONLY)
    # An open /chan file holds the device: the module cannot go.
    assert subprocess.run(["rmmod", "channel"], capture_output=True).returncode != 0
    os.close(fd)
    wait_until(lambda: sysfs("readers") == 0)   # RELEASE reached the daemon
    subprocess.run(["rmmod", "channel"], check=True)
    assert os.listdir(m.p("chan")) == []        # listings are live
    assert oserror(os.stat, path(m)) == "ENOENT"
    subprocess.run(["insmod", CHANNEL_KO, "nr_channels=3"], check=True)
    assert sorted(os.listdir(m.p("chan"))) == ["0", "1", "2"]
