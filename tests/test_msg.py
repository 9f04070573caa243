# SPDX-License-Identifier: GPL-2.0-only
"""/msg/<key>: one write sends one message, one read receives one; types; blocking; poll."""
import os
import select
import signal
import struct
import subprocess
import sys
import threading

import pytest

import util  # noqa: E402
import sysv_ipc

from util import (Child, errno_of, fuse_waiting, io, name_of, oserror, proc_sysvipc, wait_blocked,
                  wait_until)

MSGMAX = int(open("/proc/sys/kernel/msgmax").read())


@pytest.fixture
def queue(mnt, ipc):
    q = ipc.msg()
    return q, mnt.p("msg", name_of(q.key))


def send(path, data, flags=os.O_WRONLY):
    fd = os.open(path, flags)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def recv(path, size=65536, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def drain(q):
    out = []
    while True:
        try:
            out.append(q.receive(block=False))
        except sysv_ipc.BusyError:
            return out


def test_one_write_is_one_message(queue):
    q, path = queue
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.write(fd, b"first") == 5
        assert os.write(fd, b"") == 0                     # sends nothing
        assert os.write(fd, b"second\n") == 7
    finally:
        os.close(fd)
    assert drain(q) == [(b"first", 1), (b"second\n", 1)]


def test_one_read_is_one_message(queue):
    q, path = queue
    for m in (b"a", b"bb", b"ccc"):
        q.send(m, type=1)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert [os.read(fd, 4096) for _ in range(3)] == [b"a", b"bb", b"ccc"]
    finally:
        os.close(fd)


def test_binary_bodies_and_msgmax(queue):
    q, path = queue
    body = bytes(range(256)) * (MSGMAX // 256) + b"\0" * (MSGMAX % 256)
    assert len(body) == MSGMAX
    send(path, body)
    assert q.receive() == (body, 1)
    q.send(b"\0\0x\0", type=1)
    assert recv(path) == b"\0\0x\0"
    q.send(body, type=1)
    assert recv(path, MSGMAX) == body
    # Larger than msgmax: EMSGSIZE, and nothing was sent.
    assert oserror(send, path, b"y" * (MSGMAX + 1)) == "EMSGSIZE"
    assert q.current_messages == 0


def test_e2big_keeps_the_message(queue):
    q, path = queue
    q.send(b"0123456789", type=1)
    assert oserror(recv, path, 9) == "E2BIG"
    assert q.current_messages == 1
    assert recv(path, 10) == b"0123456789"


def test_zero_length_message_reads_as_eof(queue):
    q, path = queue
    q.send(b"", type=1)
    q.send(b"after", type=1)
    out = subprocess.run(["cat", path], capture_output=True, timeout=None).stdout
    assert out == b""                                     # cat stops at the empty message
    assert q.receive() == (b"after", 1)


def test_types_by_name(mnt, queue):
    q, path = queue
    send(path + "@5", b"five")
    send(path + "@2", b"two")
    send(path + "@9", b"nine")
    send(path, b"one")
    assert recv(path + "@9") == b"nine"                   # exactly type 9
    assert recv(path + "@-5") == b"one"                   # lowest type <= 5
    assert recv(path + "@-5") == b"two"
    assert recv(path + "@0") == b"five"                   # any type
    assert q.current_messages == 0
    assert oserror(send, path + "@0", b"x") == "EINVAL"
    assert oserror(send, path + "@-3", b"x") == "EINVAL"
    assert q.current_messages == 0
    # Views are never listed, and share the queue's inode number.
    assert not any("@" in n for n in os.listdir(mnt.p("msg")))
    assert os.stat(path + "@7").st_size == os.stat(path).st_size
    for bad in ("@", "@x", "@5x", "@99999999999999999999", "@5.frame"):
        assert oserror(os.stat, path + bad) == "ENOENT"


def test_framed_view(queue):
    q, path = queue
    q.send(b"hello", type=42)
    data = recv(path + "@framed")
    assert struct.unpack("=q", data[:8])[0] == 42 and data[8:] == b"hello"
    send(path + "@framed", struct.pack("=q", 7) + b"seven")
    assert q.receive() == (b"seven", 7)
    q.send(b"x", type=3)
    q.send(b"y", type=8)
    data = recv(path + "@8.framed")
    assert data == struct.pack("=q", 8) + b"y"
    assert oserror(recv, path + "@framed", 4) == "E2BIG"    # no room for the header
    assert oserror(send, path + "@framed", struct.pack("=q", 0) + b"z") == "EINVAL"
    assert q.receive() == (b"x", 3)


def test_blocking_read_released_by_an_independent_sender(queue):
    q, path = queue
    with io("read", path, 4096, 1) as p:
        wait_blocked(p)
        q.send(b"wake", type=1)
        assert p.stdout.readline().split() == ["MSG", b"wake".hex()]


def test_blocking_write_released_by_an_independent_receiver(queue):
    q, path = queue
    q.max_size = 16
    q.send(b"x" * 16, type=1)                             # full
    with io("write", path, "more") as p:
        wait_blocked(p)
        assert q.receive() == (b"x" * 16, 1)
        assert p.stdout.readline().split() == ["OK", "4"]
    assert q.receive() == (b"more", 1)


def test_o_nonblock(queue):
    q, path = queue
    assert oserror(recv, path, 100, os.O_RDONLY | os.O_NONBLOCK) == "EAGAIN"
    q.max_size = 4
    q.send(b"full", type=1)
    assert oserror(send, path, b"x", os.O_WRONLY | os.O_NONBLOCK) == "EAGAIN"
    assert drain(q) == [(b"full", 1)]


def test_sigint_never_loses_or_duplicates(queue):
    """A message racing an interrupt is read exactly once, or stays queued."""
    q, path = queue
    received, outcomes = [], set()
    rounds = 60
    for i in range(rounds):
        with io("read", path, 4096, 1) as p:         # exactly one read
            wait_blocked(p)
            q.send(f"m{i}".encode(), type=1)
            p.send_signal(signal.SIGINT)
            out = p.communicate()[0].split()
        outcomes.add(out[0])
        if out[0] == "MSG":
            received.append(bytes.fromhex(out[1]))
        else:
            assert out == ["ERR", "EINTR"]
        # What this round's reader did not take is still in the queue.
        received += [m for m, _ in drain(q)]
    assert sorted(received) == sorted(f"m{i}".encode() for i in range(rounds))


def test_sigint_on_a_blocked_writer(queue):
    q, path = queue
    q.max_size = 8
    q.send(b"12345678", type=1)
    with io("write", path, "blocked") as p:
        wait_blocked(p)
        p.send_signal(signal.SIGINT)
        assert p.stdout.readline().split() == ["ERR", "EINTR"]
    assert drain(q) == [(b"12345678", 1)]                  # nothing sent, nothing lost


def test_sigkill_of_blocked_reader_and_writer(queue):
    q, path = queue
    with io("read", path, 4096) as p:
        wait_blocked(p)
        p.kill()
        assert p.wait() == -signal.SIGKILL
    q.send(b"kept", type=1)
    assert q.receive() == (b"kept", 1)                   # the dead reader took nothing
    q.max_size = 4
    q.send(b"full", type=1)
    with io("write", path, "x") as p:
        wait_blocked(p)
        p.kill()
        assert p.wait() == -signal.SIGKILL
    assert drain(q) == [(b"full", 1)]


def test_poll_select_epoll(queue):
    q, path = queue
    rfd = os.open(path, os.O_RDONLY)
    wfd = os.open(path + "@3", os.O_WRONLY)
    try:
        poller = select.poll()
        poller.register(rfd, select.POLLIN)
        assert poller.poll(0) == []
        r, w, _ = select.select([rfd], [wfd], [], 0)
        assert r == [] and w == [wfd]
        ep = select.epoll()
        ep.register(rfd, select.EPOLLIN)
        # An independent sender makes the queue readable; poll wakes up on its own.
        t = threading.Thread(target=lambda: q.send(b"ping", type=1))
        t.start()
        assert poller.poll() == [(rfd, select.POLLIN)]
        t.join()
        assert ep.poll() == [(rfd, select.EPOLLIN)]
        assert select.select([rfd], [], [])[0] == [rfd]
        assert os.read(rfd, 100) == b"ping"
        # Writability: a full queue is not writable until a receiver makes room.
        q.max_size = 4
        q.send(b"full", type=1)
        wpoll = select.poll()
        wpoll.register(wfd, select.POLLOUT)
        assert wpoll.poll(0) == []
        t = threading.Thread(target=q.receive)
        t.start()
        assert wpoll.poll() == [(wfd, select.POLLOUT)]
        t.join()
        ep.close()
    finally:
        os.close(rfd)
        os.close(wfd)


def test_poll_by_type(queue):
    q, path = queue
    fd = os.open(path + "@7", os.O_RDONLY)
    try:
        q.send(b"other", type=2)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(0) == []                         # a type-2 message is not ours
        t = threading.Thread(target=lambda: q.send(b"ours", type=7))
        t.start()
        assert poller.poll() == [(fd, select.POLLIN)]
        t.join()
        assert os.read(fd, 100) == b"ours"
    finally:
        os.close(fd)


def test_truncate_purges_and_o_trunc_does_not(queue):
    q, path = queue
    for i in range(3):
        q.send(b"m%d" % i, type=1)
    subprocess.run(["sh", "-c", f"echo x > {path}"], check=True)     # O_TRUNC
    assert q.current_messages == 4
    assert oserror(os.truncate, path, 5) == "EINVAL"
    assert q.current_messages == 4
    os.truncate(path, 0)
    assert q.current_messages == 0
    assert os.stat(path).st_size == 0


def test_qbytes_xattr(queue):
    q, path = queue
    os.setxattr(path, "user.ipc.qbytes", b"1000")
    assert q.max_size == 1000
    assert os.getxattr(path, "user.ipc.qbytes") == b"1000"
    assert oserror(os.setxattr, path, "user.ipc.qbytes", b"lots") == "EINVAL"
    assert oserror(os.setxattr, path, "user.ipc.qnum", b"5") == "EPERM"
    assert q.max_size == 1000
    code = f"os.setxattr({path!r}, 'user.ipc.qbytes', b'10')"
    assert errno_of(2003, 2003, code) == "EPERM"            # not owner or creator
    q.uid = 2003
    assert errno_of(2003, 2003, code) == "OK"
    assert q.max_size == 10
    mnb = int(open("/proc/sys/kernel/msgmnb").read())
    raise_code = f"os.setxattr({path!r}, 'user.ipc.qbytes', b'{mnb + 1}')"
    assert errno_of(2003, 2003, raise_code) == "EPERM"     # above msgmnb needs CAP_SYS_RESOURCE
    assert q.max_size == 10


def test_create(mnt, ipc):
    key = ipc.fresh_key()
    path = mnt.p("msg", name_of(key))
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o640)
    try:
        ident = ipc.track_key("msg", key)
        os.write(fd, b"created")
    finally:
        os.close(fd)
    assert proc_sysvipc("msg")[ident]["perms"] == "640"
    assert sysv_ipc.MessageQueue(key, max_message_size=1 << 20).receive() == (b"created", 1)


def test_permissions(mnt, ipc):
    q = ipc.msg(mode=0o642)
    path = mnt.p("msg", name_of(q.key))
    q.send(b"secret", type=1)
    # Other: -w- (send yes, receive no); group: r-- .
    assert errno_of(2003, 2003, f"os.open({path!r}, os.O_RDONLY)") == "EACCES"
    assert errno_of(2003, 2003, f"os.write(os.open({path!r}, os.O_WRONLY), b'hi')") == "OK"
    assert errno_of(2004, 0, f"os.read(os.open({path!r}, os.O_RDONLY), 100)") == "OK"  # group 0
    assert errno_of(2004, 0, f"os.open({path!r}, os.O_WRONLY)") == "EACCES"
    assert drain(q) == [(b"hi", 1)]


@pytest.mark.skipif(util.OVER_IO_URING, reason="over io_uring at most 7 requests wait (src/block.c)")
def test_200_blocked_readers_do_not_stall_the_daemon(mnt, ipc):
    q = ipc.msg()
    path = mnt.p("msg", name_of(q.key))
    got = []

    def reader():
        fd = os.open(path, os.O_RDONLY)
        try:
            got.append(os.read(fd, 100))
        finally:
            os.close(fd)

    threads = [threading.Thread(target=reader) for _ in range(200)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sum(fuse_waiting(t.native_id) for t in threads) == 200)
        # Everything else still works: another queue, listing, stat, xattrs.
        other = ipc.msg()
        opath = mnt.p("msg", name_of(other.key))
        send(opath, b"through")
        assert recv(opath) == b"through"
        assert name_of(q.key) in os.listdir(mnt.p("msg"))
        assert os.getxattr(path, "user.ipc.qnum") == b"0"
    finally:
        for i in range(200):
            q.send(b"%d" % i, type=1)
        for t in threads:
            t.join()
    assert sorted(got) == sorted(b"%d" % i for i in range(200))
    assert q.current_messages == 0


def test_waiting_names_the_readers_blocked_through_ipcfs(queue):
    q, path = queue
    with io("read", path, 100, 1) as p:
        wait_blocked(p)
        # Blocked in the request, which the daemon may not have begun to wait on yet.
        wait_until(lambda: util.listed(os.getxattr(path + "@7", "user.ipc.waiting")) == f"{p.pid}:ipcfs-io")
        q.send(b"go", type=1)
        assert p.wait() == 0
    assert os.getxattr(path, "user.ipc.waiting") == b""


NATIVE_RECEIVE = """
import sys, sysv_ipc
q = sysv_ipc.MessageQueue(int(sys.argv[1], 16))
print("waiting", flush=True)
print(q.receive(type=3)[0].decode(), flush=True)
"""


def test_waiting_names_the_threads_blocked_in_the_kernel_too(queue):
    """A msgrcv(2) made without ipcfs is named too; another user sees no one."""
    q, path = queue
    with Child([sys.executable, "-c", NATIVE_RECEIVE, name_of(q.key)], stdout=subprocess.PIPE,
               text=True) as p:
        assert p.stdout.readline() == "waiting\n"
        comm = open(f"/proc/{p.pid}/comm").read().strip()
        util.wait_until(lambda: os.getxattr(path, "user.ipc.waiting") != b"")
        assert util.listed(os.getxattr(path, "user.ipc.waiting")) == f"{p.pid}:{comm}"
        assert errno_of(2003, 2003, f"assert os.getxattr({path!r}, 'user.ipc.waiting') == b'+1 hidden'") == "OK"
        q.send(b"three", type=3)
        assert p.stdout.readline() == "three\n"
        assert p.wait() == 0
    assert os.getxattr(path, "user.ipc.waiting") == b""
