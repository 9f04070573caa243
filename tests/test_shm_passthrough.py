# SPDX-License-Identifier: GPL-2.0-only
"""/shm in passthrough mode: the kernel serves reads and mmap from the segment itself.

On Debian 12 (libfuse 3.14) these skip; tests/trixie/run runs them against
libfuse 3.17 on this host's kernel, with IPCFS_MODE=passthrough, where a
daemon that did not pick passthrough is a failure unless the kernel lacks it.
"""
import mmap
import os
import re

import pytest

from util import name_of, oserror, proc_sysvipc


@pytest.fixture
def pmnt(dmnt):
    mode, why = dmnt.shm_mode()
    if mode != "passthrough":
        if os.environ.get("IPCFS_MODE") == "passthrough" and "kernel offers no" not in why:
            pytest.fail(f"IPCFS_MODE=passthrough, but the daemon chose classic mode: {why}")
        pytest.skip(f"no FUSE passthrough here: {why}")
    return dmnt


@pytest.fixture
def pseg(pmnt, ipc):
    s = ipc.shm(size=3 * 4096 + 100, mode=0o640)
    return s, pmnt.p("shm", name_of(s.key))


def requests(m, opcode):
    """How many requests with this opcode the daemon has logged (-d) so far."""
    return len(re.findall(rf"opcode: {opcode} ", m.output()))


def sync_log(m, path):
    """Every request before this point has been logged once this returns."""
    os.stat(path)


OFFSETS = [(0, 1), (0, 3 * 4096 + 100), (4095, 2), (4096, 4096), (3 * 4096 + 99, 1), (777, 5000)]


@pytest.mark.parametrize("off,size", OFFSETS)
def test_mmap_is_the_segment_both_ways(pseg, off, size):
    s, path = pseg
    s.attach()
    fd = os.open(path, os.O_RDWR)
    try:
        m = mmap.mmap(fd, s.size, mmap.MAP_SHARED)
        data = os.urandom(size)
        s.write(data, off)                      # a store through shmat ...
        assert m[off:off + size] == data        # ... is the next load through the mapping
        data2 = os.urandom(size)
        m[off:off + size] = data2               # and a store through the mapping ...
        assert s.read(size, off) == data2       # ... is the next load through shmat
        assert os.pread(fd, size, off) == data2
        m.close()
    finally:
        os.close(fd)
        s.detach()


def test_read_only_mapping(pseg):
    s, path = pseg
    s.attach()
    fd = os.open(path, os.O_RDONLY)
    try:
        m = mmap.mmap(fd, s.size, mmap.MAP_SHARED, mmap.PROT_READ)
        s.write(b"live", s.size - 4)
        assert m[-4:] == b"live"
        with pytest.raises(TypeError):
            m[0:1] = b"x"                       # PROT_READ: Python refuses before the kernel
        m.close()
        with pytest.raises(PermissionError):    # a writable shared map of a read-only open
            mmap.mmap(fd, s.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
        s.detach()


def test_reads_do_not_reach_the_daemon(pmnt, pseg):
    s, path = pseg
    s.attach()
    try:
        data = os.urandom(s.size)
        s.write(data, 0)
        sync_log(pmnt, path)
        before = requests(pmnt, "READ")
        fd = os.open(path, os.O_RDONLY)
        got = b"".join(os.pread(fd, 4096, off) for off in range(0, s.size + 4096, 4096))
        os.close(fd)
        sync_log(pmnt, path)
        assert got == data                       # served, with EOF at the segment size ...
        assert requests(pmnt, "READ") == before  # ... and the daemon never saw a READ

        # The control: a writable open keeps direct I/O, so its reads do reach the daemon.
        fd = os.open(path, os.O_RDWR)
        assert os.pread(fd, 10, 0) == data[:10]
        os.close(fd)
        sync_log(pmnt, path)
        assert requests(pmnt, "READ") == before + 1
    finally:
        s.detach()


def test_mapping_is_not_an_attachment_but_pins_the_size(pseg):
    s, path = pseg
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, s.size, mmap.MAP_SHARED)
    os.close(fd)                                # the mapping outlives the descriptor
    try:
        assert int(proc_sysvipc("shm")[s.id]["nattch"]) == 0   # not shmat: ipcs shows none
        assert oserror(os.truncate, path, 100) == "EBUSY"       # but a resize would orphan it
        with open(path, "r+b") as f:             # a write past the end: what fits, then ENOSPC
            f.seek(s.size - 2)
            assert f.raw.write(b"abcd") == 2
            assert oserror(f.raw.write, b"x") == "ENOSPC"
        assert m[-2:] == b"ab"
    finally:
        m.close()
    os.truncate(path, 100)                      # unmapped and closed: resizable again
    assert int(proc_sysvipc("shm")[ipc_id(path)]["size"]) == 100


def ipc_id(path):
    return int(os.getxattr(path, "user.ipc.id"))


def test_removed_segment_stays_readable_while_open(pseg):
    s, path = pseg
    s.attach()
    s.write(b"kept", 0)
    s.detach()
    fd = os.open(path, os.O_RDONLY)
    try:
        s.remove()                              # IPC_RMID with nothing attached: gone from ipcs
        assert s.id not in proc_sysvipc("shm")
        # The open file holds the segment's memory, as an attachment would (section 7).
        assert os.pread(fd, 4, 0) == b"kept"
    finally:
        os.close(fd)


def test_removed_attached_segment_reopens_with_the_same_backing(pseg, pmnt):
    """rm of a segment that is still attached leaves it reachable as id-<id>.  The
    kernel fails with EIO any open of an inode that has a backing file unless it
    names that same file, and the daemon had forgotten it (found by the stress run)."""
    s, path = pseg
    s.attach()
    try:
        s.write(b"same", 0)
        by_id = pmnt.p("shm", f"id-{s.id}")
        fd = os.open(by_id, os.O_RDONLY)
        try:
            os.unlink(path)                     # IPC_RMID through ipcfs: SHM_DEST while attached
            assert proc_sysvipc("shm")[s.id]["key"] == "0"
            for flags in (os.O_RDONLY, os.O_RDWR):
                fd2 = os.open(by_id, flags)
                try:
                    assert os.pread(fd2, 4, 0) == b"same"
                finally:
                    os.close(fd2)
        finally:
            os.close(fd)
    finally:
        s.detach()
