# SPDX-License-Identifier: GPL-2.0-only
"""Who made an object, who uses it, and is it a leftover: user.ipc.creator, the lines of the
lists of processes, and user.ipc.orphan, against processes that use SysV IPC themselves
(python3-sysv-ipc), not through the mount."""
import os
import subprocess
import sys

from util import Child, errno_of, name_of, wait_until

# Make (or open) an object, use it, say so, and stay until stdin closes.
NATIVE = """
import sys, sysv_ipc
kind, key, use = sys.argv[1], int(sys.argv[2], 16), sys.argv[3]
if kind == "shm":
    o = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREAT, size=4096, mode=0o644)
    if use == "detach":
        o.detach()
elif kind == "sem":
    o = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREAT, mode=0o644, initial_value=1)
    if use == "operate":
        o.acquire(); o.release()
else:
    o = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREAT, mode=0o644)
    if use == "operate":
        o.send(b"x"); o.receive()
print(o.id, flush=True)
sys.stdin.read()
"""


def native(ipc, kind, use):
    key = ipc.fresh_key()
    p = Child([sys.executable, "-c", NATIVE, kind, f"{key:x}", use], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, text=True)
    ident = int(p.stdout.readline())
    ipc.track(kind, ident, key)
    return p, key


def comm_of(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def cgroup_of(pid):
    """The kernel's own word for the cgroup of pid: its cgroup v2 line, else its first."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    unified = [line[3:] for line in lines if line.startswith("0::")]
    return unified[0] if unified else lines[0].split(":", 2)[2]


def line_of(pid, title):
    return f"{pid}:{comm_of(pid)}\t{cgroup_of(pid)}\t{title}"


def xattr(path, name):
    return os.getxattr(path, f"user.ipc.{name}").decode()


def no_leftover_while_waiting(path, wait, key):
    """While a process runs wait (Python, with key) and blocks in it, path is no leftover."""
    with Child([sys.executable, "-c", f"import sys, sysv_ipc; key = int(sys.argv[1], 16); {wait}",
                f"{key:x}"]) as waiter:
        wait_until(lambda: xattr(path, "waiting") != "")
        assert xattr(path, "orphan") == "0"
        waiter.kill()
        waiter.wait()


def finish(p):
    p.stdin.close()
    assert p.wait() == 0


def test_a_segments_creator_alive_then_gone_and_then_it_is_a_leftover(mnt, ipc):
    p, key = native(ipc, "shm", "detach")
    path = mnt.p("shm", name_of(key))
    title = f"{sys.executable} -c {NATIVE} shm {key:x} detach".replace("\n", "?")  # as ps shows it
    title = title[:200] + ("..." if len(title) > 200 else "")
    assert xattr(path, "creator") == line_of(p.pid, title)
    assert xattr(path, "orphan") == "0"          # its creator lives
    # Anyone may ask: ipcs shows cpid, /proc whether it lives.
    assert errno_of(2003, 2003, f"assert os.getxattr({path!r}, 'user.ipc.creator').decode() == "
                                f"{line_of(p.pid, title)!r}") == "OK"
    finish(p)
    assert xattr(path, "creator") == f"{p.pid} gone"
    assert xattr(path, "orphan") == "1"          # unattached, its creator and last user gone


def test_an_attached_segment_is_no_leftover(mnt, ipc):
    p, key = native(ipc, "shm", "keep attached")
    path = mnt.p("shm", name_of(key))
    seg_id = int(os.getxattr(path, "user.ipc.id"))
    # Another process attaches it and stays; the creator leaves.
    holder = Child([sys.executable, "-c", "import sys, sysv_ipc; m = sysv_ipc.attach(int(sys.argv[1]));"
                    " print('on', flush=True); sys.stdin.read()", str(seg_id)],
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "on\n"
    finish(p)
    assert xattr(path, "creator") == f"{p.pid} gone"
    assert xattr(path, "orphan") == "0"
    finish(holder)
    assert xattr(path, "orphan") == "1"


def test_a_segment_made_through_the_mount_is_judged_by_its_users(mnt, ipc):
    key = ipc.fresh_key()
    path = mnt.p("shm", name_of(key))
    with open(path, "wb") as f:
        f.write(b"made by a shell redirect")
    ipc.track_key("shm", key)
    assert xattr(path, "creator") == "ipcfs"
    assert xattr(path, "orphan") == "1"          # nothing attached, nobody to wait for


def test_a_set_is_a_leftover_once_its_last_operator_is_gone(mnt, ipc):
    p, key = native(ipc, "sem", "operate")
    path = mnt.p("sem", name_of(key))
    assert xattr(path, "creator") == "unknown"   # the kernel keeps no creator of a set
    assert xattr(path, "orphan") == "0"
    finish(p)
    assert xattr(path, "orphan") == "1"
    # Someone waits on it: no leftover.
    no_leftover_while_waiting(path, "s = sysv_ipc.Semaphore(key); s.acquire(); s.acquire()", key)
    # Not for another user without read permission (the answer comes from ncnt, zcnt, pids).
    os.chmod(path, 0o600)
    assert errno_of(2003, 2003, f"os.getxattr({path!r}, 'user.ipc.orphan')") == "EACCES"


def test_a_set_nobody_operated_on_is_not_called_a_leftover(mnt, ipc):
    """ipcmk makes a set with semget alone and exits: no semaphore has a last pid yet."""
    ident = ipc.sem(nsems=2)
    assert xattr(mnt.p("sem", f"id-{ident}"), "orphan") == "0"


def test_a_queue_is_a_leftover_once_its_sender_and_receiver_are_gone(mnt, ipc):
    p, key = native(ipc, "msg", "operate")
    path = mnt.p("msg", name_of(key))
    assert xattr(path, "creator") == "unknown"
    assert xattr(path, "orphan") == "0"
    finish(p)
    assert xattr(path, "orphan") == "1"
    no_leftover_while_waiting(path, "sysv_ipc.MessageQueue(key).receive(type=9)", key)


# Attach a segment by id, say so, and stay until stdin closes.
ATTACH = "import sys, sysv_ipc; m = sysv_ipc.attach(int(sys.argv[1])); print('on', flush=True); sys.stdin.read()"


def test_listed_processes_have_their_title_and_cgroup_and_the_hidden_are_counted(mnt, ipc, tmp_path):
    """Programs of one comm (every PostgreSQL backend is "postgres") are told apart by the
    command line titles they set, and their cgroup names their service or container, as the
    kernel's /proc says; a title is cut at 200 bytes. A caller that may not see a process is
    told how many it does not see."""
    s = ipc.shm(size=4096, mode=0o666)
    path = mnt.p("shm", name_of(s.key))
    script = tmp_path / "attach.py"
    script.write_text(ATTACH)
    roles = {}
    for role in ("db: checkpointer", "db: parallel worker for PID 1234 " + "x" * 200):
        p = Child(["bash", "-c", f'exec -a "{role}" /usr/bin/python3 {script} {s.id}'],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline() == "on\n"
        title = f"{role} {script} {s.id}"
        roles[p] = title[:200] + ("..." if len(title) > 200 else "")
    try:
        assert xattr(path, "attached") == "\n".join(line_of(p.pid, roles[p])
                                                    for p in sorted(roles, key=lambda p: p.pid))
        assert [line.split("\t")[0] for line in xattr(path, "attached").split("\n")] == \
            [f"{p.pid}:python3" for p in sorted(roles, key=lambda p: p.pid)]
        assert errno_of(2003, 2003, f"assert os.getxattr({path!r}, 'user.ipc.attached') == "
                                    "b'+2 hidden'") == "OK"
    finally:
        for p in roles:
            finish(p)
    assert xattr(path, "attached") == ""
