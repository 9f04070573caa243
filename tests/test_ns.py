# SPDX-License-Identifier: GPL-2.0-only
"""/ns/<ino>/{shm,sem,msg} (-o all_ns): every IPC namespace of the host in one tree.

Each "container" is an `unshare -i` process holding an IPC namespace of its
own; what the kernel holds there is read with nsenter and python3-sysv-ipc,
never through ipcfs.  The objects live in those namespaces, which go with
their holder, so even a failing test leaves nothing behind.
"""
import errno
import os
import signal
import subprocess
import textwrap

import pytest

import util
from util import Child, daemon_holds, errno_of, io, name_of, oserror, wait_blocked, wait_until

KEY = 0x5e5e0001
NAME = name_of(KEY)


def ns_ino(pid):
    return os.stat(f"/proc/{pid}/ns/ipc").st_ino


class Container:
    """A process in an IPC namespace of its own; py(code) runs Python in that namespace."""

    def __init__(self):
        self.holder = Child(["unshare", "-i", "/usr/bin/python3", "-c",
                             "import sys; print('ready', flush=True); sys.stdin.read()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout.readline() == "ready\n"
        self.pid = self.holder.pid
        self.ino = ns_ino(self.pid)
        self.nsfile = f"/proc/{self.pid}/ns/ipc"

    def py(self, code):
        r = subprocess.run(["nsenter", f"--ipc={self.nsfile}", "/usr/bin/python3", "-c",
                            "import sysv_ipc\n" + textwrap.dedent(code)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def table(self, kind):
        return self.py(f"print(open('/proc/sysvipc/{kind}').read())").splitlines()[1:]

    def stop(self):
        if self.holder.poll() is None:
            self.holder.stdin.close()
            self.holder.wait()


@pytest.fixture
def containers():
    made = []

    def make():
        made.append(Container())
        return made[-1]
    yield make
    for c in made:
        c.stop()


@pytest.fixture
def nsmnt(mount_with):
    return mount_with("all_ns")


def test_off_by_default(mnt):
    assert "ns" not in os.listdir(mnt.p())
    assert oserror(os.stat, mnt.p("ns")) == "ENOENT"


def test_every_namespace_is_a_directory_with_its_own_objects(nsmnt, containers):
    a, b = containers(), containers()
    a.py(f"sysv_ipc.SharedMemory({KEY:#x}, sysv_ipc.IPC_CREX, 0o600, 4096)")
    b.py(f"sysv_ipc.SharedMemory({KEY:#x}, sysv_ipc.IPC_CREX, 0o600, 8192)")
    names = os.listdir(nsmnt.p("ns"))
    assert str(a.ino) in names and str(b.ino) in names
    assert str(ns_ino(os.getpid())) in names              # the host's own
    assert sorted(os.listdir(nsmnt.p("ns", str(a.ino)))) == ["msg", "sem", "shm"]
    assert os.listdir(nsmnt.p("ns", str(a.ino), "shm")) == [NAME]
    assert os.stat(nsmnt.p("ns", str(a.ino), "shm", NAME)).st_size == 4096
    assert os.stat(nsmnt.p("ns", str(b.ino), "shm", NAME)).st_size == 8192
    # st_ino of /ns/<ino> is the namespace's, as ls -i /proc/PID/ns/ipc shows it.
    assert os.stat(nsmnt.p("ns", str(a.ino))).st_ino == a.ino
    # Not in the host's tree, nor the other way round.
    assert NAME not in os.listdir(nsmnt.p("shm"))


def test_read_write_and_rm_act_in_that_namespace_only(nsmnt, containers):
    a, b = containers(), containers()
    for c in (a, b):
        c.py(f"""
            sysv_ipc.SharedMemory({KEY:#x}, sysv_ipc.IPC_CREX, 0o600, 64)
            sysv_ipc.Semaphore({KEY:#x}, sysv_ipc.IPC_CREX, 0o600)
            sysv_ipc.MessageQueue({KEY:#x}, sysv_ipc.IPC_CREX, 0o600)""")
    in_a = nsmnt.p("ns", str(a.ino))
    with open(f"{in_a}/shm/{NAME}", "r+b") as f:
        f.write(b"written in a")
    with open(f"{in_a}/sem/{NAME}", "w") as f:
        f.write("7\n")
    with open(f"{in_a}/msg/{NAME}", "wb") as f:
        f.write(b"to a")
    assert a.py(f"print(sysv_ipc.SharedMemory({KEY:#x}).read(12))") == "b'written in a'"
    assert b.py(f"print(sysv_ipc.SharedMemory({KEY:#x}).read(12))") == repr(b" " * 12)   # sysv_ipc fills new segments with spaces
    assert a.py(f"print(sysv_ipc.Semaphore({KEY:#x}).value)") == "7"
    assert b.py(f"print(sysv_ipc.Semaphore({KEY:#x}).value)") == "0"
    assert a.py(f"print(sysv_ipc.MessageQueue({KEY:#x}).receive(False))") == "(b'to a', 1)"
    assert b.py(f"print(sysv_ipc.MessageQueue({KEY:#x}).current_messages)") == "0"
    # And reads see that namespace's objects.
    b.py(f"sysv_ipc.SharedMemory({KEY:#x}).write(b'b has this')")
    with open(nsmnt.p("ns", str(b.ino), "shm", NAME), "rb") as f:
        assert f.read(10) == b"b has this"
    with open(f"{in_a}/sem/{NAME}") as f:
        assert f.read().split()[0] == "7"

    os.unlink(f"{in_a}/sem/{NAME}")
    assert a.table("sem") == []
    assert len(b.table("sem")) == 1


def test_create_in_a_namespace(nsmnt, containers):
    a = containers()
    path = nsmnt.p("ns", str(a.ino), "sem", NAME)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o640))
    (line,) = a.table("sem")
    assert int(line.split()[0]) == KEY and line.split()[2] == "640"
    assert NAME not in os.listdir(nsmnt.p("sem"))
    # A placeholder (a 0-byte segment to be) shows in its namespace only.
    shm = nsmnt.p("ns", str(a.ino), "shm", NAME)
    os.close(os.open(shm, os.O_CREAT | os.O_WRONLY, 0o600))
    assert os.listdir(nsmnt.p("ns", str(a.ino), "shm")) == [NAME]
    assert NAME not in os.listdir(nsmnt.p("shm"))
    os.truncate(shm, 100)
    assert a.py(f"print(sysv_ipc.SharedMemory({KEY:#x}).size)") == "100"


def test_a_blocked_read_waits_in_its_namespace(nsmnt, containers, ipc):
    """The waiter thread receives in the file's namespace: a message of the
    same key in the host's namespace is not taken; the one in the container is."""
    a = containers()
    a.py(f"sysv_ipc.MessageQueue({KEY:#x}, sysv_ipc.IPC_CREX, 0o600)")
    host = ipc.msg(key=KEY)
    # First a wait in the host's namespace, whose waiter thread the next wait reuses.
    with io("read", nsmnt.p("msg", NAME), 100, 1) as p:
        wait_blocked(p)
        host.send(b"first", type=1)
        assert p.communicate()[0].split() == ["MSG", b"first".hex()]
    with io("read", nsmnt.p("ns", str(a.ino), "msg", NAME), 100, 1) as p:
        wait_blocked(p)
        host.send(b"host's", type=1)
        a.py(f"sysv_ipc.MessageQueue({KEY:#x}).send(b'a', type=1)")
        assert p.communicate()[0].split() == ["MSG", b"a".hex()]
    assert host.receive(False) == (b"host's", 1)


def test_interrupting_a_wait_in_a_namespace(nsmnt, containers):
    a = containers()
    a.py(f"sysv_ipc.MessageQueue({KEY:#x}, sysv_ipc.IPC_CREX, 0o600)")
    with io("read", nsmnt.p("ns", str(a.ino), "msg", NAME), 100, 1) as p:
        wait_blocked(p)
        p.send_signal(signal.SIGINT)
        assert p.communicate()[0].split() == ["ERR", "EINTR"]
    a.py(f"sysv_ipc.MessageQueue({KEY:#x}).send(b'kept', type=1)")
    assert a.py(f"print(sysv_ipc.MessageQueue({KEY:#x}).receive(False))") == "(b'kept', 1)"


def test_undo_is_applied_in_its_namespace(nsmnt, containers, ipc):
    a = containers()
    a.py(f"sysv_ipc.Semaphore({KEY:#x}, sysv_ipc.IPC_CREX, 0o600)")
    host = ipc.sem(key=KEY)
    with open(nsmnt.p("ns", str(a.ino), "sem", NAME), "w") as f:
        f.write("+3 undo\n")
        f.flush()
        assert a.py(f"print(sysv_ipc.Semaphore({KEY:#x}).value)") == "3"
    assert a.py(f"print(sysv_ipc.Semaphore({KEY:#x}).value)") == "0"
    assert host.value == 0


def in_poll(pid):
    with open(f"/proc/{pid}/wchan") as f:
        return f.read().startswith("poll_schedule_timeout")


def test_poll_watches_the_queue_of_its_namespace(nsmnt, containers):
    """The msg poll watcher looks at each queue in its file's namespace.  a's
    and b's queues have the same key and id (fresh namespaces number alike);
    the watcher starts from a poll in b, and must see a message sent in a."""
    import select
    a, b = containers(), containers()
    for c in (a, b):
        c.py(f"sysv_ipc.MessageQueue({KEY:#x}, sysv_ipc.IPC_CREX, 0o600)")
    b.py(f"sysv_ipc.MessageQueue({KEY:#x}).send(b'b', type=1)")
    fd = os.open(nsmnt.p("ns", str(b.ino), "msg", NAME), os.O_RDONLY | os.O_NONBLOCK)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    assert poller.poll() == [(fd, select.POLLIN)]       # ready: registers, starts the watcher
    os.close(fd)
    b.py(f"sysv_ipc.MessageQueue({KEY:#x}).receive()")
    path = nsmnt.p("ns", str(a.ino), "msg", NAME)
    code = ("import os, select\n"
            f"fd = os.open({path!r}, os.O_RDONLY | os.O_NONBLOCK)\n"
            "p = select.poll(); p.register(fd, select.POLLIN)\n"
            "print(p.poll(), flush=True)\n"
            "print(os.read(fd, 100), flush=True)\n")
    with Child(["/usr/bin/python3", "-c", code], stdout=subprocess.PIPE, text=True) as waiter:
        wait_until(lambda: in_poll(waiter.pid))
        a.py(f"sysv_ipc.MessageQueue({KEY:#x}).send(b'a', type=1)")
        out = waiter.communicate()[0].splitlines()
    assert out[1] == "b'a'" and "1)" in out[0]          # POLLIN, then the message


def test_attached_lists_processes_of_that_namespace_only(nsmnt, containers):
    """Fresh namespaces number their first segment alike (id 0): an attacher
    in one is no attacher of the other's."""
    a, b = containers(), containers()
    for c in (a, b):
        c.py(f"sysv_ipc.SharedMemory({KEY:#x}, sysv_ipc.IPC_CREX, 0o600, 4096)")
    assert a.table("shm")[0].split()[1] == b.table("shm")[0].split()[1]
    attacher = Child(["nsenter", f"--ipc={a.nsfile}", "/usr/bin/python3", "-c",
                      f"import sysv_ipc, sys; m = sysv_ipc.SharedMemory({KEY:#x}); m.attach();"
                      " print('attached', flush=True); sys.stdin.read()"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with attacher:
        assert attacher.stdout.readline() == "attached\n"
        listed = os.getxattr(nsmnt.p("ns", str(a.ino), "shm", NAME), "user.ipc.attached")
        assert util.listed(listed) == f"{attacher.pid}:python3"
        assert os.getxattr(nsmnt.p("ns", str(b.ino), "shm", NAME), "user.ipc.attached") == b""
        attacher.stdin.close()
        attacher.wait()


def test_xattrs_tell_which_processes_and_cgroup(nsmnt, containers):
    a = containers()
    path = nsmnt.p("ns", str(a.ino))
    assert sorted(os.listxattr(path)) == ["user.ns.cgroup", "user.ns.pids"]
    assert util.listed(os.getxattr(path, "user.ns.pids")) == f"{a.pid}:python3"
    with open(f"/proc/{a.pid}/cgroup") as f:
        cgroup = [line[3:].strip() for line in f if line.startswith("0::")][0]
    assert os.getxattr(path, "user.ns.cgroup") == cgroup.encode()
    assert oserror(os.getxattr, path, "user.ns.other") == "ENODATA"


def test_namespaces_appear_and_vanish_live(nsmnt, containers):
    before = set(os.listdir(nsmnt.p("ns")))
    a = containers()
    assert set(os.listdir(nsmnt.p("ns"))) == before | {str(a.ino)}
    os.stat(nsmnt.p("ns", str(a.ino), "shm"))
    a.stop()
    assert str(a.ino) not in os.listdir(nsmnt.p("ns"))
    assert oserror(os.stat, nsmnt.p("ns", str(a.ino))) == "ENOENT"
    assert oserror(os.stat, nsmnt.p("ns", "12345")) == "ENOENT"
    assert oserror(os.stat, nsmnt.p("ns", "not-a-number")) == "ENOENT"


def test_the_daemon_does_not_keep_a_stopped_container_alive(nsmnt, containers):
    """While a file is open in it the daemon holds the namespace (the file
    still reads); once nothing of the kernel names it, it lets go, so the
    namespace, and its objects, go as they would without ipcfs."""
    a = containers()
    a.py(f"sysv_ipc.SharedMemory({KEY:#x}, sysv_ipc.IPC_CREX, 0o600, 64).write(b'kept')")
    tree = nsmnt.p("ns", str(a.ino))
    assert os.listdir(f"{tree}/shm") == [NAME]
    f = open(f"{tree}/shm/{NAME}", "rb")
    a.stop()
    assert daemon_holds(nsmnt, f"ipc:[{a.ino}]")
    assert f.read(4) == b"kept"
    f.close()
    wait_until(lambda: not daemon_holds(nsmnt, f"ipc:[{a.ino}]"))


def test_requests_in_many_namespaces_at_once_never_cross(nsmnt, containers, ipc):
    """Worker threads move between namespaces request by request: under
    concurrent load each read still sees its own namespace's segment."""
    from concurrent.futures import ThreadPoolExecutor
    a, b = containers(), containers()
    for c, fill in ((a, b"a"), (b, b"b")):
        c.py(f"sysv_ipc.SharedMemory({KEY:#x}, sysv_ipc.IPC_CREX, 0o600, 64).write({fill * 64!r})")
    host = ipc.shm(key=KEY, size=64)
    host.attach()
    host.write(b"h" * 64)
    host.detach()
    paths = {b"a": nsmnt.p("ns", str(a.ino), "shm", NAME),
             b"b": nsmnt.p("ns", str(b.ino), "shm", NAME), b"h": nsmnt.p("shm", NAME)}

    def read_many(fill):
        seen = set()
        for _ in range(300):
            with open(paths[fill], "rb") as f:
                seen.add(f.read(64))
        return fill, seen

    with ThreadPoolExecutor(6) as pool:
        for fill, seen in pool.map(read_many, [b"a", b"b", b"h"] * 2):
            assert seen == {fill * 64}


def test_the_served_namespace_is_also_under_ns(nsmnt, ipc):
    seg = ipc.shm(size=4096)
    seg.attach()
    seg.write(b"both ways")
    seg.detach()
    name = name_of(seg.key)
    with open(nsmnt.p("ns", str(ns_ino(os.getpid())), "shm", name), "rb") as f:
        assert f.read(9) == b"both ways"
    # Two inodes (a directory has one parent), one object.
    assert os.stat(nsmnt.p("shm", name)).st_ino != \
        os.stat(nsmnt.p("ns", str(ns_ino(os.getpid())), "shm", name)).st_ino
    # A name made in one tree (a placeholder: the daemon's alone) is in the other too.
    os.close(os.open(nsmnt.p("ns", str(ns_ino(os.getpid())), "shm", NAME), os.O_CREAT | os.O_WRONLY))
    assert NAME in os.listdir(nsmnt.p("shm"))
    os.unlink(nsmnt.p("shm", NAME))
    assert NAME not in os.listdir(nsmnt.p("ns", str(ns_ino(os.getpid())), "shm"))


@pytest.mark.parametrize("within", [(), ("unshare", "-r")], ids=["uid-65534", "userns-root"])
def test_only_root_of_the_initial_user_namespace_enters(nsmnt, containers, within):
    a = containers()
    a.py(f"sysv_ipc.SharedMemory({KEY:#x}, sysv_ipc.IPC_CREX, 0o666, 64)")
    ns = nsmnt.p("ns")
    seg = nsmnt.p("ns", str(a.ino), "shm", NAME)
    assert errno_of(65534, 65534, f"os.listdir({ns!r})", within=within) == "EACCES"
    assert errno_of(65534, 65534, f"os.stat({seg!r})", within=within) == "EACCES"
    assert errno_of(65534, 65534, f"open({seg!r}, 'rb')", within=within) == "EACCES"
    assert errno_of(65534, 65534, f"os.unlink({seg!r})", within=within) == "EACCES"
    # /ns itself may be looked at, like any directory one cannot enter.
    assert errno_of(65534, 65534, f"os.stat({ns!r})", within=within) == "OK"
    assert len(a.table("shm")) == 1


def test_root_without_cap_sys_admin_is_refused(nsmnt, containers):
    a = containers()
    r = subprocess.run(["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin",
                        "/usr/bin/python3", "-c",
                        f"import os\ntry:\n os.listdir({nsmnt.p('ns')!r})\nexcept OSError as e:\n"
                        " print(e.errno)"], capture_output=True, text=True)
    assert r.stdout.strip() == str(errno.EACCES), r.stderr
    assert str(a.ino) in os.listdir(nsmnt.p("ns"))


def daemon_threads_in(mnt, ino):
    """The daemon's threads whose IPC namespace is ino (a thread's namespace pins it, fd or not)."""
    found = []
    task_dir = f"/proc/{mnt.proc.pid}/task"
    for tid in os.listdir(task_dir):
        try:
            if os.stat(f"{task_dir}/{tid}/ns/ipc").st_ino == ino:
                with open(f"{task_dir}/{tid}/comm") as f:
                    found.append(f.read().strip())
        except FileNotFoundError:
            pass                                        # a thread that ended meanwhile
    return found


def test_no_thread_of_the_daemon_stays_in_a_container(nsmnt, containers):
    """The daemon's background threads (the msg poll watcher, the listing's watcher and,
    over io_uring, the signal watcher) start from whatever request first needs them; made
    here by requests under /ns/<ino>, they must not live on in that namespace, which would
    keep it, and its objects, alive for the daemon's life."""
    import select
    a = containers()
    a.py(f"sysv_ipc.MessageQueue({KEY:#x}, sysv_ipc.IPC_CREX, 0o600)")
    path = nsmnt.p("ns", str(a.ino), "msg", NAME)
    assert os.listdir(nsmnt.p("ns", str(a.ino), "msg")) == [NAME]
    with io("read", path, 100, 1) as p:                 # a wait: over io_uring, the signal watcher
        wait_blocked(p)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(0) == []                     # registers, starts the poll watcher
        p.send_signal(signal.SIGINT)
        assert p.communicate()[0].split() == ["ERR", "EINTR"]
        os.close(fd)
    assert daemon_threads_in(nsmnt, ns_ino(os.getpid())) != []      # the served one: all of them
    wait_until(lambda: daemon_threads_in(nsmnt, a.ino) == [])
    a.stop()
    wait_until(lambda: not daemon_holds(nsmnt, f"ipc:[{a.ino}]"))
