# SPDX-License-Identifier: GPL-2.0-only
"""`ls -l` uses what its READDIRPLUS carried, and those entries stay live (listed.h).

The liveness tests mount with a cache of an hour, so that only the daemon's
watcher, never the timeout, can make the kernel drop a stale entry: without
the watcher they would wait for ever.  How fast it does is measured in
tests/bench/listing.py, not asserted here.
"""
import os
import subprocess

import pytest
import sysv_ipc

from util import Child, fuse_waiting, name_of, oserror, wait_until

KINDS = ["shm", "sem", "msg"]


def make(ipc, kind):
    return {"shm": ipc.shm, "sem": ipc.sem, "msg": ipc.msg}[kind]()


def ls_l(path):
    """`ls -l` in a process of its own: READDIRPLUS, then a statx of every name."""
    return subprocess.run(["ls", "-l", path], check=True, capture_output=True, text=True).stdout


def lookups(mnt):
    return mnt.output().count("opcode: LOOKUP")


@pytest.mark.parametrize("kind", KINDS)
def test_stat_after_a_listing_asks_nothing(mount_with, ipc, kind):
    objs = [make(ipc, kind) for _ in range(20)]
    cached, uncached = mount_with(debug=True), mount_with("listing_cache=0", debug=True)
    for m in (cached, uncached):
        ls_l(m.p(kind))                 # the kind's directory itself is looked up once, now
        before = lookups(m)
        listing = ls_l(m.p(kind))
        assert all(name_of(o.key) in listing for o in objs)
        m.looked_up = lookups(m) - before
    assert cached.looked_up == 0
    assert uncached.looked_up >= len(objs)


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_removed_after_a_listing_is_gone(mount_with, ipc, kind):
    m = mount_with("listing_cache=3600")
    obj = make(ipc, kind)
    path = m.p(kind, name_of(obj.key))
    assert name_of(obj.key) in ls_l(m.p(kind))
    os.stat(path)                       # from the listing's cache
    obj.remove()
    wait_until(lambda: oserror(os.stat, path) == "ENOENT")


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_changed_after_a_listing_shows_it(mount_with, ipc, kind):
    m = mount_with("listing_cache=3600")
    obj = make(ipc, kind)
    path = m.p(kind, name_of(obj.key))
    ls_l(m.p(kind))
    assert os.stat(path).st_mode & 0o777 == 0o600
    obj.mode = 0o640                    # IPC_SET behind ipcfs's back
    wait_until(lambda: os.stat(path).st_mode & 0o777 == 0o640)


def test_a_key_recreated_after_a_listing_is_the_new_object(mount_with, ipc):
    m = mount_with("listing_cache=3600")
    seg = ipc.shm(size=4096)
    path = m.p("shm", name_of(seg.key))
    ls_l(m.p("shm"))
    seg.remove()
    ipc.shm(key=seg.key, size=8192)
    wait_until(lambda: os.stat(path).st_size == 8192)


def wchan(pid):
    with open(f"/proc/{pid}/wchan") as f:
        return f.read()


def locked_out(pid):
    """Waiting for a FUSE inode's lock in the kernel (D state), not for the daemon."""
    return any(w in wchan(pid) for w in ("fuse_file_write_iter", "rwsem_down_write"))


@pytest.mark.parametrize("kind", ["sem", "msg"])
def test_writers_through_a_listed_name_still_get_inodes_of_their_own(mount_with, ipc, kind):
    """The listing's entry is cached with the listing thread's alias; writers
    that open it by its path must not share that inode: a second writer would
    wait for the first one's inode lock, unkillable (fs.c, "Writers that wait")."""
    m = mount_with("listing_cache=3600", debug=True)
    obj = make(ipc, kind)
    if kind == "msg":
        obj.max_size = 4
        obj.send(b"full", type=1)
    path = m.p(kind, name_of(obj.key))
    ls_l(m.p(kind))
    data = "-1\n" if kind == "sem" else "more"
    writers = [Child(["/usr/bin/python3", "-c",
                      f"import os; fd = os.open({path!r}, os.O_WRONLY); print('open', flush=True);"
                      f" os.write(fd, {data!r}.encode())"], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        for w in writers:
            assert w.stdout.readline() == "open\n"
            # Blocked in the daemon (a FUSE request), not on an inode lock in the kernel.
            wait_until(lambda: fuse_waiting(w.pid) or locked_out(w.pid))
            assert fuse_waiting(w.pid), wchan(w.pid)
        assert "another thread's; looking up again" in m.output()
        if kind == "sem":
            obj.release()
            obj.release()
        else:
            obj.receive()
            obj.receive()
        for w in writers:
            assert w.wait() == 0
    finally:
        # Failing, a writer waits in D state for the other's inode lock: removing the
        # object ends the other's wait, and with it the lock.
        try:
            obj.remove()
        except sysv_ipc.ExistentialError:
            pass
        for w in writers:
            w.kill()
            w.wait()
