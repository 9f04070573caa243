# SPDX-License-Identifier: GPL-2.0-only
"""/shm/<key>: the live segment, read and written in place.

These run in whichever mode the daemon picks: classic on Debian 12, passthrough
in the trixie chroot (tests/trixie/run).  Passthrough-only behaviour is in
test_shm_passthrough.py."""
import hashlib
import mmap
import os
import subprocess
import threading

import pytest
import sysv_ipc

from util import Child, daemon_holds, errno_of, hidden, listed, name_of, oserror, proc_sysvipc, wait_until


@pytest.fixture
def seg(mnt, ipc):
    s = ipc.shm(size=10000, mode=0o640)
    return s, mnt.p("shm", name_of(s.key))


def on_file(path, flags, fn, *args):
    """Open path, call fn(fd, *args), close."""
    fd = os.open(path, flags)
    try:
        return fn(fd, *args)
    finally:
        os.close(fd)


def pread(path, size, off):
    return on_file(path, os.O_RDONLY, os.pread, size, off)


def pwrite(path, data, off):
    return on_file(path, os.O_WRONLY, os.pwrite, data, off)


def nattch(ident):
    return int(proc_sysvipc("shm")[ident]["nattch"])


@pytest.mark.parametrize("off,size", [(0, 1), (0, 10000), (1, 4095), (4095, 2), (4096, 4096),
                                      (9999, 1), (5000, 5000), (123, 7777)])
def test_coherent_both_ways(seg, off, size):
    s, path = seg
    s.attach()
    try:
        data = os.urandom(size)
        s.write(data, off)                      # a store through shmat ...
        assert pread(path, size, off) == data   # ... is what the very next read returns
        data2 = os.urandom(size)
        assert pwrite(path, data2, off) == size
        assert s.read(size, off) == data2       # and a write is the next load
    finally:
        s.detach()


def test_eof_and_short_reads(seg):
    s, path = seg
    s.attach()
    s.write(b"z" * 10000, 0)
    s.detach()
    assert pread(path, 100, 9990) == b"z" * 10      # short read at the end
    assert pread(path, 100, 10000) == b""           # EOF at the segment size
    assert pread(path, 100, 1 << 40) == b""
    with open(path, "rb") as f:
        assert f.read() == b"z" * 10000
    assert os.stat(path).st_size == 10000


def test_nattch_is_honest(seg):
    s, path = seg
    before = nattch(s.id)
    for _ in range(3):
        pwrite(path, b"abc", 10)
        assert pread(path, 3, 10) == b"abc"
    assert nattch(s.id) == before == 0
    assert os.getxattr(path, "user.ipc.nattch") == b"0"


def test_daemon_lets_go_of_a_removed_segments_memory(mount_with, ipc):
    """Classic reads are answered from the daemon's own mapping of the segment, which is
    not an attachment, and which goes with the segment: once it is removed, the daemon
    keeps neither a mapping nor a descriptor of it, so its memory is freed.  (In
    passthrough mode the kernel reads read-only opens itself: no mapping to see.)"""
    mnt = mount_with("classic")
    s = ipc.shm(size=1 << 20, mode=0o600)
    other = ipc.shm(size=4096, mode=0o600)
    path = mnt.p("shm", name_of(s.key))
    s.attach()
    s.write(b"mapped", 4096)
    s.detach()
    assert pread(path, 6, 4096) == b"mapped"
    held = daemon_holds(mnt, f"/SYSV{s.key:08x}")
    assert held.maps and held.fds and nattch(s.id) == 0     # held, and not as an attachment
    s.remove()
    # A miss in the daemon's cache sweeps it, unless the thread that answered the read
    # above has not yet let go of it (the reply reached us first): then the sweeper does.
    pread(mnt.p("shm", name_of(other.key)), 1, 0)
    wait_until(lambda: not daemon_holds(mnt, f"/SYSV{s.key:08x}"))


def test_a_removed_segments_memory_goes_with_no_request_at_all(mount_with, ipc):
    """Nobody lists or reads after the removal: the daemon's sweeper lets go of it (within
    half a second; here only waited for, a liveness question)."""
    mnt = mount_with("classic")
    s = ipc.shm(size=1 << 20, mode=0o600)
    assert len(pread(mnt.p("shm", name_of(s.key)), 6, 4096)) == 6
    assert daemon_holds(mnt, f"/SYSV{s.key:08x}")
    s.remove()
    wait_until(lambda: not daemon_holds(mnt, f"/SYSV{s.key:08x}"))


@pytest.mark.parametrize("how", ["echo", "cp", "truncate", "dd"])
def test_create(mnt, ipc, tmp_path, how):
    key = ipc.fresh_key()
    path = mnt.p("shm", name_of(key))
    src = tmp_path / "src"
    src.write_bytes(os.urandom(70000))
    cmd = {"echo": f"echo data > {path}",
           "cp": f"cp {src} {path}",
           "truncate": f"truncate -s 5000 {path}",
           "dd": f"dd if={src} of={path} bs=4096 status=none"}[how]
    try:
        subprocess.run(["sh", "-c", cmd], check=True)
    finally:
        ident = ipc.track_key("shm", key)
    expected = {"echo": b"data\n", "cp": src.read_bytes(), "truncate": b"\0" * 5000,
                "dd": src.read_bytes()}[how]
    assert int(proc_sysvipc("shm")[ident]["size"]) == len(expected)
    seg = sysv_ipc.SharedMemory(key)
    try:
        assert seg.read(len(expected)) == expected
    finally:
        seg.detach()
    with open(path, "rb") as f:
        assert f.read() == expected


def test_placeholder_until_sized(mnt, ipc):
    key = ipc.fresh_key()
    path = mnt.p("shm", name_of(key))
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o640)
    try:
        assert os.fstat(fd).st_size == 0
        assert name_of(key) in os.listdir(mnt.p("shm"))
        assert all(int(r["key"]) & 0xffffffff != key for r in proc_sysvipc("shm").values())
        assert os.read(fd, 10) == b""
        os.pwrite(fd, b"x", 99)                     # the first write sets the size
        ident = ipc.track_key("shm", key)
        assert int(proc_sysvipc("shm")[ident]["size"]) == 100
        assert proc_sysvipc("shm")[ident]["perms"] == "640"
    finally:
        os.close(fd)
    # rm of a placeholder makes it vanish.
    key2 = ipc.fresh_key()
    p2 = mnt.p("shm", name_of(key2))
    os.close(os.open(p2, os.O_CREAT | os.O_WRONLY, 0o600))
    os.unlink(p2)
    assert name_of(key2) not in os.listdir(mnt.p("shm"))


def test_resize_while_unattached(seg, ipc):
    s, path = seg
    ipc.track_key("shm", s.key)
    s.attach()
    s.write(b"A" * 10000)
    s.detach()
    s.uid, s.gid = 1234, 5678
    os.truncate(path, 20000)
    ident = ipc.track_key("shm", s.key)
    assert ident != s.id                            # the id changes
    row = proc_sysvipc("shm")[ident]
    assert (row["size"], row["perms"], row["uid"], row["gid"]) == ("20000", "640", "1234", "5678")
    assert pread(path, 20000, 0) == b"A" * 10000 + b"\0" * 10000
    os.truncate(path, 3000)
    assert pread(path, 20000, 0) == b"A" * 3000
    pwrite(path, b"B" * 10, 5000)                   # a write past the end grows it
    assert pread(path, 20000, 0) == b"A" * 3000 + b"\0" * 2000 + b"B" * 10


def test_ebusy_and_enospc_while_attached(seg):
    s, path = seg
    s.attach()
    try:
        assert oserror(os.truncate, path, 20000) == "EBUSY"
        assert oserror(os.truncate, path, 0) == "EBUSY"
        fd = os.open(path, os.O_WRONLY)
        try:
            assert os.pwrite(fd, b"x" * 100, 9950) == 50    # what fits
            assert oserror(os.pwrite, fd, b"y", 10000) == "ENOSPC"
        finally:
            os.close(fd)
        assert s.read(50, 9950) == b"x" * 50
        assert int(proc_sysvipc("shm")[s.id]["size"]) == 10000
    finally:
        s.detach()


def test_o_trunc_unattached_becomes_the_data(seg, ipc):
    s, path = seg
    pwrite(path, b"old" * 3000, 0)
    subprocess.run(["sh", "-c", f"echo data > {path}"], check=True)
    with open(path, "rb") as f:
        assert f.read() == b"data\n"
    ident = ipc.track_key("shm", s.key)
    assert proc_sysvipc("shm")[ident]["perms"] == "640"


def test_o_trunc_not_the_callers_to_remove_zeroes_and_keeps_size(seg, ipc):
    s, path = seg
    pwrite(path, b"old" * 3000, 0)
    s.uid, s.mode = 2001, 0o666     # uid 2004 may write, not remove: nothing to re-create
    r = subprocess.run(["setpriv", "--reuid=2004", "--regid=2004", "--clear-groups", "sh", "-c",
                        f"echo data > {path}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert pread(path, 10000, 0) == b"data\n" + b"\0" * 9995
    assert int(proc_sysvipc("shm")[s.id]["size"]) == 10000


def test_size_limits(seg):
    s, path = seg
    shmmax = int(open("/proc/sys/kernel/shmmax").read())
    if shmmax < (1 << 62):
        assert oserror(os.truncate, path, shmmax + 1) == "EFBIG"
        assert int(proc_sysvipc("shm")[s.id]["size"]) == 10000
    old = open("/proc/sys/kernel/shmmax").read()
    with open("/proc/sys/kernel/shmmax", "w") as f:
        f.write("20000")
    try:
        assert oserror(os.truncate, path, 20001) == "EFBIG"
        assert oserror(pwrite, path, b"x", 20001) == "EFBIG"
        assert int(proc_sysvipc("shm")[s.id]["size"]) == 10000   # nothing changed
    finally:
        with open("/proc/sys/kernel/shmmax", "w") as f:
            f.write(old)


def test_mmap_shared_is_enodev_in_classic_mode(mount_with, ipc):
    m = mount_with("classic", debug=True)
    assert m.shm_mode() == ("classic", "-o classic")
    s = ipc.shm(size=10000, mode=0o640)
    path = m.p("shm", name_of(s.key))
    fd = os.open(path, os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            mmap.mmap(fd, 4096, mmap.MAP_SHARED)
        assert e.value.errno == 19                  # ENODEV
        # MAP_PRIVATE: a private copy of the contents at the time of the fault.
        pwrite(path, b"snapshot", 0)
        m = mmap.mmap(fd, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ)
        assert m[:8] == b"snapshot"
        m.close()
    finally:
        os.close(fd)


def test_removed_segment(seg):
    s, path = seg
    fd = os.open(path, os.O_RDWR)
    try:
        s.attach()
        s.remove()                                  # marked for destruction, still attached
        name = f"id-{s.id}"
        idpath = os.path.join(os.path.dirname(path), name)
        assert pwrite(idpath, b"still", 0) == 5     # readable and writable until detached
        assert s.read(5) == b"still"
        s.detach()
        assert oserror(os.pread, fd, 5, 0) == "EIDRM"
        assert oserror(os.pwrite, fd, b"x", 0) == "EIDRM"
        assert oserror(os.open, idpath, os.O_RDONLY) == "ENOENT"
    finally:
        os.close(fd)


def test_256_mib_end_to_end(mnt, ipc):
    size = 256 << 20
    s = ipc.shm(size=size, mode=0o600)
    path = mnt.p("shm", name_of(s.key))
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY)
    try:
        for i in range(256):
            chunk = block[i:] + block[:i]
            os.pwrite(fd, chunk, i << 20)
            digest.update(chunk)
    finally:
        os.close(fd)
    s.attach()
    try:
        kernel_side = hashlib.sha256()
        for i in range(256):
            kernel_side.update(s.read(1 << 20, i << 20))
    finally:
        s.detach()
    assert kernel_side.hexdigest() == digest.hexdigest()
    read_back = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            read_back.update(chunk)
    assert read_back.hexdigest() == digest.hexdigest()


def test_concurrent_readers_and_writers(seg):
    s, path = seg
    pwrite(path, b"\0" * 10000, 0)                 # sysv_ipc fills new segments with spaces
    errors = []

    def writer(n):
        fd = os.open(path, os.O_WRONLY)
        try:
            for _ in range(200):
                os.pwrite(fd, bytes([n]) * 1000, n * 1000)
        except Exception as e:                      # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            os.close(fd)

    def reader(n):
        fd = os.open(path, os.O_RDONLY)
        try:
            for _ in range(200):
                chunk = os.pread(fd, 1000, n * 1000)
                assert set(chunk) <= {0, n}, "a byte from another writer's region"
        except Exception as e:                      # noqa: BLE001
            errors.append(e)
        finally:
            os.close(fd)

    threads = [threading.Thread(target=f, args=(n,)) for n in range(1, 10) for f in (writer, reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    s.attach()
    try:
        assert all(s.read(1000, n * 1000) == bytes([n]) * 1000 for n in range(1, 10))
    finally:
        s.detach()


def test_permissions(seg):
    s, path = seg                                   # 0640, owner root
    assert errno_of(2003, 2003, f"open({path!r}, 'rb').read(1)") == "EACCES"
    assert errno_of(2004, 0, f"open({path!r}, 'rb').read(1)") == "OK"       # group root: r
    assert errno_of(2004, 0, f"os.open({path!r}, os.O_WRONLY)") == "EACCES"
    assert errno_of(2004, 0, f"os.truncate({path!r}, 5)") == "EACCES"
    assert int(proc_sysvipc("shm")[s.id]["size"]) == 10000


ATTACHER = """
import sys, sysv_ipc
seg = sysv_ipc.SharedMemory(int(sys.argv[1]))     # attaches
print("attached", flush=True)
sys.stdin.readline()
seg.detach()
print("detached", flush=True)
sys.stdin.readline()
"""


def test_attached_lists_the_attaching_processes_the_caller_may_see(mnt, ipc):
    seg = ipc.shm(mode=0o666)
    path = mnt.p("shm", name_of(seg.key))

    def attacher(uid):
        p = Child(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                   "/usr/bin/python3", "-c", ATTACHER, str(seg.key)],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline() == "attached\n"
        return p

    def attached_as(uid):
        code = f"print(repr(os.getxattr({path!r}, 'user.ipc.attached').decode()))"
        r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                            "/usr/bin/python3", "-c", "import os\n" + code],
                           capture_output=True, text=True, check=True)
        value = eval(r.stdout)
        return listed(value), hidden(value)

    assert os.getxattr(path, "user.ipc.attached") == b""
    with attacher(2003) as a, attacher(2004) as b:
        both = f"{min(a.pid, b.pid)}:python3 {max(a.pid, b.pid)}:python3"
        assert listed(os.getxattr(path, "user.ipc.attached")) == both    # root sees all
        # Others see what their /proc would show them, their own processes, and how many
        # others there are.
        assert attached_as(2003) == (f"{a.pid}:python3", 1)
        assert attached_as(2004) == (f"{b.pid}:python3", 1)
        assert attached_as(2001) == ("", 2)
        a.stdin.write("\n")
        a.stdin.flush()
        assert a.stdout.readline() == "detached\n"
        assert listed(os.getxattr(path, "user.ipc.attached")) == f"{b.pid}:python3"
        b.kill()
        b.wait()
        assert os.getxattr(path, "user.ipc.attached") == b""
