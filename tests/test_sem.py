# SPDX-License-Identifier: GPL-2.0-only
"""/sem/<key>: values by read, commands by write, blocking, interruption, undo on close."""
import errno
import os
import signal
import subprocess
import sys
import threading

import pytest

import util  # noqa: E402

from util import (Child, errno_of, io, listed, name_of, oserror, proc_sysvipc, sem_ncnt, sem_setall,
                  sem_values, semop, wait_blocked, wait_until)


def write(path, text, flags=os.O_WRONLY):
    fd = os.open(path, flags)
    try:
        return os.write(fd, text.encode() if isinstance(text, str) else text)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def sem3(mnt, ipc):
    ident = ipc.sem(nsems=3)
    return ident, mnt.p("sem", f"id-{ident}")


@pytest.fixture
def sem1(mnt, ipc):
    s = ipc.sem(value=0)
    return s.id, mnt.p("sem", name_of(s.key))


def test_read_gives_values(sem3):
    ident, path = sem3
    sem_setall(ident, [3, 0, 1])
    assert read(path) == b"3 0 1\n"
    sem_setall(ident, [32767, 7, 0])
    assert read(path) == b"32767 7 0\n"


def test_reads_continue_one_snapshot(sem3):
    ident, path = sem3
    sem_setall(ident, [1, 2, 3])
    fd = os.open(path, os.O_RDONLY)
    try:
        assert os.read(fd, 2) == b"1 "
        sem_setall(ident, [4, 5, 6])
        assert os.read(fd, 100) == b"2 3\n"     # the same snapshot
        assert os.read(fd, 100) == b""
        assert os.pread(fd, 100, 0) == b"4 5 6\n"   # offset 0: a fresh one
    finally:
        os.close(fd)


def test_grammar(sem3, sem1):
    ident, path = sem3
    write(path, "1 0 4\n")
    assert sem_values(ident) == [1, 0, 4]
    write(path, "2=7")
    assert sem_values(ident) == [1, 0, 7]
    write(path, "+1\n")
    assert sem_values(ident) == [2, 0, 7]
    write(path, "-2\n")
    assert sem_values(ident) == [0, 0, 7]
    write(path, "2:-3\n1:+4\n")
    assert sem_values(ident) == [0, 4, 4]
    write(path, "0:0\n")                    # wait for zero: already zero
    write(path, "0:+1 1:-1 2:-4\n")         # one atomic semop
    assert sem_values(ident) == [1, 3, 0]
    write(path, "1:-1 nowait timeout=2.5\n")
    assert sem_values(ident) == [1, 2, 0]
    s1, p1 = sem1
    write(p1, "5\n")
    assert sem_values(s1) == [5]
    write(p1, "-3\n-1\n")                   # several lines, in order
    assert sem_values(s1) == [1]


def test_o_trunc_never_resets(mnt, sem1):
    ident, path = sem1
    sem_setall(ident, [4])
    # What `echo +1 > file` does: O_WRONLY|O_CREAT|O_TRUNC.
    subprocess.run(["sh", "-c", f"echo +1 > {path}"], check=True)
    assert sem_values(ident) == [5]


@pytest.mark.parametrize("line,err", [
    ("5", "EINVAL"),            # 1 value on a 3-set
    ("1 2", "EINVAL"),          # neither 1 nor nsems values
    ("1 -1 0", "EINVAL"),       # values and operations mixed
    ("0:-1 5", "EINVAL"),
    ("3:-1", "EFBIG"),          # index out of range
    ("0:-1 3:+1", "EFBIG"),
    ("7=1", "EFBIG"),
    ("0=32768", "ERANGE"),      # above SEMVMX
    ("+32768", "ERANGE"),
    ("1 2 99999", "ERANGE"),
    ("bogus", "EINVAL"),
    ("1:1", "EINVAL"),
    ("-1 timeout=never", "EINVAL"),
    ("nowait", "EINVAL"),
    ("1 1 1 nowait", "EINVAL"),
    ("0:-1\0garbage", "EINVAL"),  # a NUL ended the line early, and "0:-1" ran (found by fuzzing)
])
def test_bad_input_applies_nothing(sem3, line, err):
    ident, path = sem3
    sem_setall(ident, [5, 5, 5])
    assert oserror(write, path, line + "\n") == err
    assert sem_values(ident) == [5, 5, 5]
    # A bad line anywhere in a write applies none of the write's lines.
    assert oserror(write, path, "0:-1\n" + line + "\n") == err
    assert sem_values(ident) == [5, 5, 5]


def test_a_failing_line_stops_the_rest(sem1):
    ident, path = sem1
    sem_setall(ident, [1])
    # Line 1 applies, line 2 would wait (nowait): EAGAIN, line 3 never runs.
    assert oserror(write, path, "-1\n-1 nowait\n+5\n") == "EAGAIN"
    assert sem_values(ident) == [0]


def test_nowait_and_o_nonblock(sem1):
    ident, path = sem1
    assert oserror(write, path, "-1 nowait\n") == "EAGAIN"
    assert oserror(write, path, "-1\n", os.O_WRONLY | os.O_NONBLOCK) == "EAGAIN"
    assert sem_values(ident) == [0]


def test_timeout_gives_eagain(sem1):
    ident, path = sem1
    assert oserror(write, path, "-1 timeout=0.05\n") == "EAGAIN"
    assert sem_values(ident) == [0]
    assert sem_ncnt(ident) == 0


def test_blocked_p_is_released_by_an_independent_v(sem1):
    ident, path = sem1
    with io("write", path, "-1\n") as p:
        wait_until(lambda: sem_ncnt(ident) == 1)
        assert p.poll() is None
        semop(ident, [(0, 1)])              # V from this process, not through ipcfs
        assert p.stdout.readline().split() == ["OK", "3"]
        assert sem_values(ident) == [0]


def test_multi_op_lines_are_atomic(sem3):
    ident, path = sem3
    sem_setall(ident, [0, 1, 0])
    # Needs sem 0; must not take sem 1 meanwhile.
    with io("write", path, "0:-1 1:-1 2:+1\n") as p:
        wait_until(lambda: sem_ncnt(ident, 0) == 1)
        assert sem_values(ident) == [0, 1, 0]   # nothing partially applied while waiting
        semop(ident, [(0, 1)])
        assert p.stdout.readline().startswith("OK")
        assert sem_values(ident) == [0, 0, 1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_a_blocked_write_with_eintr(sem3, sig):
    ident, path = sem3
    sem_setall(ident, [0, 2, 0])
    with io("write", path, "1:-1 0:-1\n") as p:
        wait_until(lambda: sem_ncnt(ident, 0) == 1)
        p.send_signal(sig)
        assert p.stdout.readline().split() == ["ERR", "EINTR"]
        assert p.wait() == 1
        assert sem_values(ident) == [0, 2, 0]
        wait_until(lambda: sem_ncnt(ident, 0) == 0)  # the daemon stopped waiting too


def test_sigkill_of_a_blocked_writer(sem1):
    ident, path = sem1
    p = io("write", path, "-1\n")
    wait_until(lambda: sem_ncnt(ident) == 1)
    p.kill()
    assert p.wait() == -signal.SIGKILL        # not stuck in D state
    wait_until(lambda: sem_ncnt(ident) == 0)
    semop(ident, [(0, 1)])
    assert sem_values(ident) == [1]             # nothing taken by the dead writer


def test_undo_after_close(sem1):
    ident, path = sem1
    sem_setall(ident, [2])
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, b"-1 undo\n")
    os.write(fd, b"-1\n")                       # not undone
    assert sem_values(ident) == [0]
    os.close(fd)
    semop(ident, [(0, -1)])                     # blocks until the undo gave one back
    assert sem_values(ident) == [0]


def test_undo_after_exit_and_sigkill(sem1):
    ident, path = sem1
    sem_setall(ident, [1])
    for how in ("exit", "kill"):
        p = io("hold", path, "-1 undo\n")
        assert p.stdout.readline().strip() == "HELD"
        assert sem_values(ident) == [0]
        if how == "exit":
            p.stdin.close()
        else:
            p.kill()
        p.wait()
        semop(ident, [(0, -1)])                 # released by the undo, whenever it lands
        semop(ident, [(0, 1)])
        assert sem_values(ident) == [1]


def test_undo_in_a_shell_lock(sem1):
    ident, path = sem1
    sem_setall(ident, [1])
    script = f"exec 3>{path}; echo '-1 undo' >&3; echo locked; read x"
    p = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "locked"
    assert sem_values(ident) == [0]
    p.kill()
    p.wait()
    semop(ident, [(0, -1)])
    assert sem_values(ident) == [0]


def test_undo_clamps_like_exit(sem1):
    ident, path = sem1
    sem_setall(ident, [3])
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, b"+2 undo\n")                  # undo will subtract 2
    sem_setall(ident, [1])                      # someone else consumed meanwhile
    os.close(fd)
    wait_until(lambda: sem_values(ident) == [0])  # clamped at 0, not refused


def test_create_and_resize(mnt, ipc):
    key = ipc.fresh_key()
    path = mnt.p("sem", name_of(key))
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o640)
    os.close(fd)
    ident = ipc.track_key("sem", key)
    assert sem_values(ident) == [0]
    assert os.stat(path).st_size == 1
    write(path, "4\n")
    os.chown(path, 1234, 5678)
    os.truncate(path, 3)
    new = ipc.track_key("sem", key)
    assert new != ident
    row = proc_sysvipc("sem")[new]
    assert (row["perms"], row["uid"], row["gid"], row["nsems"]) == ("640", "1234", "5678", "3")
    assert sem_values(new) == [4, 0, 0]
    assert os.stat(path).st_size == 3
    write(path, "1 2 3\n")
    os.truncate(path, 2)
    assert sem_values(ipc.track_key("sem", key)) == [1, 2]
    assert oserror(os.truncate, path, 0) == "EINVAL"
    assert oserror(os.truncate, path, 100000) == "EINVAL"
    assert sem_values(ipc.track_key("sem", key)) == [1, 2]


def test_resize_refused_while_someone_waits(sem1):
    ident, path = sem1
    with io("write", path, "-1\n") as p:
        wait_until(lambda: sem_ncnt(ident) == 1)
        assert oserror(os.truncate, path, 2) == "EBUSY"
        assert ident in proc_sysvipc("sem")
        semop(ident, [(0, 1)])
        assert p.stdout.readline().startswith("OK")


def test_ncnt_zcnt_pids_xattrs(sem3):
    ident, path = sem3
    sem_setall(ident, [0, 1, 0])
    with io("write", path, "0:-1\n") as p, io("write", path, "1:0\n") as q:
        wait_until(lambda: os.getxattr(path, "user.ipc.ncnt") == b"1 0 0" and
                   os.getxattr(path, "user.ipc.zcnt") == b"0 1 0")
        semop(ident, [(0, 1), (1, -1)])
        assert p.stdout.readline().startswith("OK")
        assert q.stdout.readline().startswith("OK")
    pids = os.getxattr(path, "user.ipc.pids").split()
    assert len(pids) == 3 and all(x.isdigit() for x in pids)


def test_permissions(mnt, ipc):
    s = ipc.sem(mode=0o604)
    path = mnt.p("sem", name_of(s.key))
    # Other may read (4) but not alter (needs write).
    code_read = f"open({path!r}, 'rb').read()"
    code_alter = f"fd = os.open({path!r}, os.O_WRONLY); os.write(fd, b'+1')"
    assert errno_of(2003, 2003, code_read) == "OK"
    assert errno_of(2003, 2003, code_alter) == "EACCES"
    assert errno_of(2003, 2003, f"os.getxattr({path!r}, 'user.ipc.ncnt')") == "OK"
    os.chmod(path, 0o600)
    assert errno_of(2003, 2003, code_read) == "EACCES"
    assert errno_of(2003, 2003, f"os.getxattr({path!r}, 'user.ipc.ncnt')") == "EACCES"
    assert sem_values(s.id) == [0]


def blocked_write(path, results):
    """P on a set through its own open file, as a process of its own would: the result,
    or the errno's name."""
    fd = os.open(path, os.O_WRONLY)
    try:
        results.append(os.write(fd, b"-1\n"))
    except OSError as e:
        results.append(errno.errorcode[e.errno])
    finally:
        os.close(fd)


@pytest.mark.skipif(util.OVER_IO_URING, reason="over io_uring at most 7 requests wait (src/block.c)")
def test_500_blocked_writers_do_not_stall_the_daemon(mnt, ipc):
    one = ipc.sem(nsems=1).id
    many = [ipc.sem() for _ in range(50)]
    paths = [mnt.p("sem", f"id-{one}")] * 250 + \
        [mnt.p("sem", name_of(s.key)) for s in many for _ in range(5)]
    results = []
    threads = [threading.Thread(target=blocked_write, args=(p, results)) for p in paths]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sem_ncnt(one) == 250 and all(sem_ncnt(s.id) == 5 for s in many))
        # Everyone else is still served: listing, reads, writes and xattrs of other sets.
        other = ipc.sem(nsems=2)
        opath = mnt.p("sem", f"id-{other}")
        write(opath, "3 4\n")
        assert read(opath) == b"3 4\n"
        assert len(os.listdir(mnt.p("sem"))) >= 52
        assert os.getxattr(mnt.p("sem", f"id-{one}"), "user.ipc.ncnt") == b"250"
    finally:
        semop(one, [(0, 250)])
        for s in many:
            semop(s.id, [(0, 5)])
        for t in threads:
            t.join()
    assert results.count(3) == 500
    assert sem_values(one) == [0]


@pytest.mark.skipif(not util.OVER_IO_URING, reason="only over FUSE io_uring (tests/chroot/run sid --uring)")
def test_over_io_uring_waits_beyond_the_rings_get_eagain(mnt, ipc):
    """Over io_uring a waiting request holds its ring entry, and the kernel queues every
    other request of that CPU's ring behind a full one.  So ipcfs lets io_uring_q_depth - 1
    requests wait and refuses the next with EAGAIN, as beyond max_waiters: the mount stays
    live instead of stalling."""
    s = ipc.sem(nsems=1)
    path = mnt.p("sem", f"id-{s.id}")
    results = []
    threads = [threading.Thread(target=blocked_write, args=(path, results))
               for _ in range(util.RING_WAITERS + 3)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sem_ncnt(s.id) == util.RING_WAITERS and results.count("EAGAIN") == 3)
        other = ipc.sem(nsems=2)                        # everyone else is still served
        write(mnt.p("sem", f"id-{other}"), "3 4\n")
        assert read(mnt.p("sem", f"id-{other}")) == b"3 4\n"
    finally:
        semop(s.id, [(0, util.RING_WAITERS + 3)])
        for t in threads:
            t.join()
    assert results.count(3) == util.RING_WAITERS and sem_values(s.id) == [3]


def libfuse_version():
    out = subprocess.run(["pkg-config", "--modversion", "fuse3"], capture_output=True, text=True)
    return tuple(int(n) for n in out.stdout.split(".")) if out.returncode == 0 else None


def kernel_enables_uring():
    try:
        with open("/sys/module/fuse/parameters/enable_uring") as f:
            return f.read().strip() == "Y"
    except FileNotFoundError:
        return False


def test_the_debug_log_says_how_io_uring_requests_arrive(mount_with):
    """-o io_uring is asked for, never forced: the log says whether it is used, or why not."""
    m = mount_with("io_uring", debug=True)
    os.listdir(m.path)                          # past INIT
    log = m.output()
    version = libfuse_version()
    if version and version < (3, 18):
        assert "has no FUSE over io_uring (3.18 has): requests come through /dev/fuse" in log
    elif not kernel_enables_uring():
        assert "enable_uring is N; root may write 1 there): requests come through /dev/fuse" in log
    else:
        assert "the kernel offers FUSE over io_uring" in log
        # libfuse issue #1443: a reply from a waiter thread can be lost up to 3.18.3.
        assert ("can lose a reply sent from a thread other than the ring's" in log) == \
            (version <= (3, 18, 3))
        assert "the daemon runs at nice 0, where a caller is often woken on another CPU" in log
        raised = mount_with("io_uring", "nice=-3", debug=True)
        os.listdir(raised.path)
        assert "the kernel offers FUSE over io_uring" in raised.output()
        assert "the daemon runs at nice" not in raised.output()


@pytest.mark.skipif(not util.OVER_IO_URING, reason="only over FUSE io_uring (tests/chroot/run sid --uring)")
def test_over_io_uring_a_signal_still_ends_a_wait_after_the_watcher_slept(dmnt, ipc):
    """Over io_uring ipcfs watches waiting callers' signals itself (src/block.c).  The
    watcher sleeps once nothing has waited for a while, and a new wait must wake it."""
    s = ipc.sem(nsems=1)
    path = dmnt.p("sem", f"id-{s.id}")
    for slept in (1, 2):                # the first wait starts the watcher; the second wakes it
        with io("write", path, "-1\n") as p:
            wait_until(lambda: sem_ncnt(s.id) == 1)
            p.send_signal(signal.SIGINT)
            assert p.stdout.readline().split() == ["ERR", "EINTR"]
        wait_until(lambda: dmnt.output().count("the signal watcher sleeps") == slept)
    assert sem_values(s.id) == [0]


def test_waiting_names_the_callers_blocked_through_ipcfs(sem1):
    ident, path = sem1
    assert os.getxattr(path, "user.ipc.waiting") == b""
    with io("write", path, "-1\n") as p:
        wait_blocked(p)
        # Blocked in the request, which the daemon may not have begun to wait on yet.
        wait_until(lambda: listed(os.getxattr(path, "user.ipc.waiting")) == f"{p.pid}:ipcfs-io")
        # Another user's /proc would not show root's process: neither does the xattr.
        assert errno_of(2003, 2003, f"assert os.getxattr({path!r}, 'user.ipc.waiting') == b'+1 hidden'") == "OK"
        semop(ident, [(0, 1)])
        assert p.wait() == 0
    assert os.getxattr(path, "user.ipc.waiting") == b""


def test_undo_names_the_holders_of_undo_records(sem1):
    ident, path = sem1
    sem_setall(ident, [1])
    assert os.getxattr(path, "user.ipc.undo") == b""
    p = io("hold", path, "-1 undo\n")
    try:
        assert p.stdout.readline().strip() == "HELD"
        assert listed(os.getxattr(path, "user.ipc.undo")) == f"{p.pid}:ipcfs-io"
    finally:
        p.stdin.close()
        p.wait()
    semop(ident, [(0, -1)])                     # the undo has landed: the record is gone
    assert os.getxattr(path, "user.ipc.undo") == b""


# A program that waits in the kernel itself (as every real one does): sysv_ipc's acquire is
# one semop(2) of -1 on semaphore 0, made from a thread named after the program.
NATIVE_WAIT = """
import sys, sysv_ipc
s = sysv_ipc.Semaphore(int(sys.argv[1], 16))
print("waiting", flush=True)
s.acquire()
print("got", flush=True)
sys.stdin.read()                # alive, and no longer waiting
"""


def test_waiting_names_the_threads_blocked_in_the_kernel_too(sem1, ipc):
    """semop(2) called without ipcfs: the kernel shows it in /proc/<tid>/syscall, and so does
    user.ipc.waiting, with the operation it waits for; another user sees no one."""
    ident, path = sem1
    key = os.path.basename(path)
    with Child([sys.executable, "-c", NATIVE_WAIT, key], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
               text=True) as p:
        assert p.stdout.readline() == "waiting\n"
        wait_until(lambda: sem_ncnt(ident) == 1)
        comm = open(f"/proc/{p.pid}/comm").read().strip()
        assert listed(os.getxattr(path, "user.ipc.waiting")) == f"{p.pid}:{comm}[0:-1]"
        assert errno_of(2003, 2003, f"assert os.getxattr({path!r}, 'user.ipc.waiting') == b'+1 hidden'") == "OK"
        # A caller through ipcfs and one in the kernel, on the same semaphore: both, ipcfs's first.
        with io("write", path, "-1\n") as through:
            wait_until(lambda: sem_ncnt(ident) == 2)
            assert listed(os.getxattr(path, "user.ipc.waiting")) == \
                f"{through.pid}:ipcfs-io {p.pid}:{comm}[0:-1]"
            semop(ident, [(0, 2)])
            assert through.wait() == 0
        assert p.stdout.readline() == "got\n"
        # At once, though the answer before came from a scan of /proc moments ago.
        assert os.getxattr(path, "user.ipc.waiting") == b""
        p.stdin.close()
        assert p.wait() == 0
    # Waiting on another set is not waiting on this one.
    other = ipc.sem(value=0)
    with Child([sys.executable, "-c", NATIVE_WAIT, name_of(other.key)], stdin=subprocess.PIPE,
               stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout.readline() == "waiting\n"
        wait_until(lambda: sem_ncnt(other.id) == 1)
        assert os.getxattr(path, "user.ipc.waiting") == b""
        semop(other.id, [(0, 1)])
        assert p.stdout.readline() == "got\n"
        p.stdin.close()
        assert p.wait() == 0
