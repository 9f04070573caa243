# SPDX-License-Identifier: GPL-2.0-only
"""What tools nobody here wrote expect of a file: a descriptor stays its object's
file whatever ipcfs does to the object, lseek answers SEEK_DATA/SEEK_HOLE,
st_blocks counts memory, and a redirect never wipes an attached segment."""
import errno
import os
import subprocess

import pytest
import sysv_ipc

import util
from util import name_of, oserror, proc_sysvipc, remove, wait_until


def shm_path(mnt, key):
    return mnt.p("shm", name_of(key))


def segment_of(key):
    """(id, row) of the segment with this key, from the kernel's table."""
    rows = [(i, r) for i, r in proc_sysvipc("shm").items() if int(r["key"]) & 0xffffffff == key]
    assert len(rows) == 1, rows
    return rows[0]


# ---- A descriptor stays its object's file when ipcfs re-creates the object ----

def test_install_into_a_new_key(mnt, ipc, tmp_path):
    """install(1): create, write past the end, then fchmod the descriptor."""
    key = ipc.fresh_key()
    src = tmp_path / "f"
    src.write_bytes(os.urandom(70000))
    try:
        subprocess.run(["install", "-m", "644", str(src), shm_path(mnt, key)], check=True)
    finally:
        ipc.track_key("shm", key)
    ident, row = segment_of(key)
    assert (row["perms"], row["size"]) == ("644", "70000")
    seg = sysv_ipc.SharedMemory(key)
    try:
        assert seg.read(70000) == src.read_bytes()
    finally:
        seg.detach()


@pytest.mark.parametrize("how", ["o_trunc", "past_the_end", "new_key"])
def test_a_descriptor_follows_the_segment_ipcfs_re_created(mnt, ipc, how):
    if how == "new_key":
        key = ipc.fresh_key()
        fd = os.open(shm_path(mnt, key), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    else:
        s = ipc.shm(size=4096, mode=0o600)
        key = s.key
        flags = os.O_RDWR | (os.O_TRUNC if how == "o_trunc" else 0)
        fd = os.open(shm_path(mnt, key), flags)
    try:
        os.pwrite(fd, b"grown" * 2000, 0)           # 10000 bytes: past the end, a new segment
        ident = ipc.track_key("shm", key)
        if how != "new_key":
            assert ident != s.id
        st = os.fstat(fd)
        assert st.st_size == 10000
        os.fchmod(fd, 0o640)
        os.fchown(fd, 1234, 5678)
        os.fsync(fd)
        row = proc_sysvipc("shm")[ident]
        assert (row["perms"], row["uid"], row["gid"]) == ("640", "1234", "5678")
        assert os.fstat(fd).st_mode & 0o777 == 0o640
        assert os.getxattr(f"/proc/self/fd/{fd}", "user.ipc.id") == str(ident).encode()
        assert os.pread(fd, 5, 0) == b"grown"
        assert os.pwrite(fd, b"again", 5) == 5
        assert os.pread(fd, 10, 0) == b"grownagain"
    finally:
        os.close(fd)


def test_a_set_that_ipcfs_re_sized_is_still_the_descriptors(mnt, ipc):
    ident = ipc.sem(nsems=2, mode=0o600)
    key_path = mnt.p("sem", f"id-{ident}")
    fd = os.open(key_path, os.O_RDWR)
    try:
        os.ftruncate(fd, 3)
        os.fchmod(fd, 0o640)
        assert os.fstat(fd).st_size == 3
        assert os.pwrite(fd, b"1 2 3\n", 0) == 6
        assert os.pread(fd, 100, 0) == b"1 2 3\n"
    finally:
        os.close(fd)


def test_removed_and_made_again_by_another_process_is_not_followed(mnt, ipc):
    """Only what ipcfs itself re-creates is followed: another process's new
    segment under the same key is another object."""
    s = ipc.shm(size=4096)
    fd = os.open(shm_path(mnt, s.key), os.O_RDWR)
    try:
        remove("shm", s.id)
        other = ipc.shm(key=s.key, size=8192)
        assert oserror(os.pwrite, fd, b"x", 0) == "EIDRM"
        try:
            assert os.fstat(fd).st_size != 8192
            assert os.getxattr(f"/proc/self/fd/{fd}", "user.ipc.id") != str(other.id).encode()
        except OSError as e:
            assert e.errno in (errno.ENOENT, errno.EIDRM)
    finally:
        os.close(fd)


# ---- A new /sem file's first write sizes the set ----

def echo_into_a_new_sem_key(mnt, ipc, line):
    """echo LINE > sem/NEWKEY: (path, id, nsems) of the set it made."""
    key = ipc.fresh_key()
    path = mnt.p("sem", name_of(key))
    try:
        subprocess.run(["sh", "-c", f"echo '{line}' > {path}"], check=True)
    finally:
        ident = ipc.track_key("sem", key)
    assert ident is not None
    return path, ident, int(proc_sysvipc("sem")[ident]["nsems"])


def test_echo_values_into_a_new_sem_key(mnt, ipc):
    path, ident, nsems = echo_into_a_new_sem_key(mnt, ipc, "3 1 4")
    assert nsems == 3
    assert sysv_ipc.Semaphore(int(proc_sysvipc("sem")[ident]["key"])).value == 3
    with open(path) as f:
        assert f.read() == "3 1 4\n"
    # Only the first write of the open that created it: later ones are commands on 3 semaphores.
    assert subprocess.run(["sh", "-c", f"echo '1 2' > {path}"],
                          capture_output=True).returncode != 0
    with open(path) as f:
        assert f.read() == "3 1 4\n"


def test_a_new_sem_key_and_an_operation_first(mnt, ipc):
    path, _, nsems = echo_into_a_new_sem_key(mnt, ipc, "+2")
    assert nsems == 1
    with open(path) as f:
        assert f.read() == "2\n"


# ---- lseek SEEK_DATA / SEEK_HOLE: the whole object is data ----

SEEK_DATA, SEEK_HOLE = getattr(os, "SEEK_DATA", 3), getattr(os, "SEEK_HOLE", 4)


@pytest.mark.parametrize("kind", ["shm", "sem"])
def test_seek_data_and_hole_as_on_a_regular_file(mnt, ipc, kind):
    if kind == "shm":
        s = ipc.shm(size=10000)
        path, size = shm_path(mnt, s.key), 10000
    else:
        path, size = mnt.p("sem", f"id-{ipc.sem(nsems=3)}"), len("0 0 0\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, SEEK_DATA) == 0
        assert os.lseek(fd, 7 % size, SEEK_DATA) == 7 % size
        assert os.lseek(fd, 0, SEEK_HOLE) == size
        assert os.lseek(fd, size - 1, SEEK_HOLE) == size
        assert oserror(os.lseek, fd, size, SEEK_DATA) == "ENXIO"
        assert oserror(os.lseek, fd, size, SEEK_HOLE) == "ENXIO"
        assert oserror(os.lseek, fd, -1, SEEK_DATA) == "ENXIO"
        assert os.lseek(fd, 5 % size, os.SEEK_SET) == 5 % size     # the others as they were
    finally:
        os.close(fd)


def test_cp_out_of_a_segment(mnt, ipc, tmp_path):
    s = ipc.shm(size=70000)
    data = os.urandom(70000)
    s.attach()
    s.write(data)
    s.detach()
    for sparse in ("auto", "never", "always"):
        out = tmp_path / f"copy-{sparse}"
        subprocess.run(["cp", f"--sparse={sparse}", shm_path(mnt, s.key), str(out)], check=True)
        assert out.read_bytes() == data


# ---- Nothing wipes an attached segment by accident ----

def test_o_trunc_of_an_attached_segment_is_ebusy(mnt, ipc):
    s = ipc.shm(size=10000, mode=0o640)
    s.attach()
    try:
        s.write(b"live" * 2500)
        r = subprocess.run(["sh", "-c", f": > {shm_path(mnt, s.key)}"], capture_output=True, text=True)
        assert r.returncode != 0 and "busy" in r.stderr.lower(), r.stderr
        assert oserror(os.open, shm_path(mnt, s.key), os.O_WRONLY | os.O_TRUNC) == "EBUSY"
        assert s.read(10000) == b"live" * 2500          # nothing changed
        # The ways to write into a live segment.
        subprocess.run(["sh", "-c", f"printf new 1<> {shm_path(mnt, s.key)}"], check=True)
        subprocess.run(["sh", "-c", f"printf xyz | dd of={shm_path(mnt, s.key)} conv=notrunc "
                        "seek=3 bs=1 status=none"], check=True)
        assert s.read(10) == b"newxyz" + (b"live" * 3)[6:10]
        assert int(proc_sysvipc("shm")[s.id]["size"]) == 10000
    finally:
        s.detach()


# ---- st_blocks: the memory a segment uses ----

def test_st_blocks_counts_resident_and_swapped_pages(mnt, ipc):
    out = subprocess.run(["ipcmk", "-M", str(1 << 20)], check=True, capture_output=True, text=True)
    ident = ipc.track("shm", int(out.stdout.split(":")[1]))     # made without touching a page
    s = sysv_ipc.SharedMemory(int(proc_sysvipc("shm")[ident]["key"]))
    s.detach()
    path = shm_path(mnt, s.key)
    assert os.stat(path).st_blocks == 0                 # nothing touched yet
    s.attach()
    try:
        s.write(b"x" * (256 << 10))                     # 64 pages
    finally:
        s.detach()
    row = proc_sysvipc("shm")[s.id]
    used = int(row["rss"]) + int(row["swap"])
    assert used == 256 << 10
    # One reading of /proc/sysvipc/shm serves a second of stats (docs/shm.md): a listing is fresh.
    assert {e.name: e.stat().st_blocks for e in os.scandir(mnt.p("shm"))}[name_of(s.key)] == used // 512
    wait_until(lambda: os.stat(path).st_blocks == used // 512)
    du = subprocess.run(["du", "-k", path], check=True, capture_output=True, text=True).stdout
    assert int(du.split()[0]) == used // 1024


def test_seek_data_on_a_queue_or_channel_is_espipe(mnt, ipc):
    q = ipc.msg()
    for path in (mnt.p("msg", name_of(q.key)), mnt.p("chan", "0")):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            assert oserror(os.lseek, fd, 0, SEEK_DATA) == "ESPIPE"
            assert oserror(os.lseek, fd, 0, SEEK_HOLE) == "ESPIPE"
        finally:
            os.close(fd)


# ---- Reading leaves the kernel's record alone ----

def shm_record(ident):
    row = proc_sysvipc("shm")[ident]
    return {f: row[f] for f in ("lpid", "atime", "dtime", "nattch", "cpid")}


@pytest.mark.parametrize("mode", ["classic", "auto"])
def test_reading_an_attached_segment_moves_nothing_ipcs_shows(mount_with, ipc, mode):
    mnt = mount_with(*(["classic"] if mode == "classic" else []))
    s = ipc.shm(size=1 << 16)
    s.attach()
    try:
        s.write(b"in use")
        before = shm_record(s.id)
        with open(shm_path(mnt, s.key), "rb") as f:
            assert f.read(6) == b"in use"
        with open(shm_path(mnt, s.key), "r+b") as f:
            f.write(b"IN")
        assert s.read(6) == b"IN use"
        assert shm_record(s.id) == before
        attached = util.listed(os.getxattr(shm_path(mnt, s.key), "user.ipc.attached"))
        assert attached == f"{os.getpid()}:{open('/proc/self/comm').read().strip()}"
    finally:
        s.detach()


def test_no_ipcfs_daemon_is_listed_as_attached(mount_with, ipc):
    """Two mounts, each holding the segment to read it: neither daemon is a user of it."""
    first, second = mount_with("classic"), mount_with("classic")
    s = ipc.shm(size=4096)
    for mnt in (first, second):
        with open(shm_path(mnt, s.key), "rb") as f:
            f.read(1)
    s.attach()
    try:
        for mnt in (first, second):
            assert util.listed(os.getxattr(shm_path(mnt, s.key), "user.ipc.attached")) == \
                f"{os.getpid()}:{open('/proc/self/comm').read().strip()}"
    finally:
        s.detach()
    for mnt in (first, second):
        assert os.getxattr(shm_path(mnt, s.key), "user.ipc.attached") == b""


@pytest.mark.parametrize("kind", ["shm", "sem", "msg"])
def test_mknod_of_a_regular_file_creates(mnt, ipc, kind):
    import stat
    key = ipc.fresh_key()
    path = mnt.p(kind, name_of(key))
    try:
        os.mknod(path, 0o640 | stat.S_IFREG)
    finally:
        ident = ipc.track_key(kind, key)
    assert os.stat(path).st_mode & 0o777 == 0o640
    if kind == "shm":
        assert ident is None            # a placeholder, until the first write sizes it
        with open(path, "wb") as f:
            f.write(b"made by mknod")
        ident = ipc.track_key(kind, key)
    assert proc_sysvipc(kind)[ident]["perms"] == "640"
    assert oserror(os.mknod, path, 0o600 | stat.S_IFREG) == "EEXIST"


def test_reopen_through_an_old_inode_is_enoent_not_eio(mnt, ipc):
    """Found by the passthrough stress run: a new open that followed a re-creation onto an
    inode still holding the old segment's backing file got EIO from the kernel.  A new open
    by an old nodeid is ENOENT; one by path reaches the new segment."""
    s = ipc.shm(size=4096)
    path = shm_path(mnt, s.key)
    writer = os.open(path, os.O_RDWR)
    try:
        os.pwrite(writer, b"x" * 10000, 0)      # ipcfs re-creates the segment
        ident = ipc.track_key("shm", s.key)
        assert os.fstat(writer).st_size == 10000
        assert oserror(os.open, f"/proc/self/fd/{writer}", os.O_RDONLY) == "ENOENT"
        with open(path, "rb") as f:
            assert f.read() == b"x" * 10000
        assert os.getxattr(path, "user.ipc.id") == str(ident).encode()
    finally:
        os.close(writer)
