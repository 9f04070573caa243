# SPDX-License-Identifier: GPL-2.0-only
"""stress-ng's System V stressors create, use and remove segments, sets and queues at
full speed while readers list, stat, getfattr and read the tree.  The daemon stays
alive and quiet (the mount fixture fails on any line it prints, sanitizer reports
among them), stress-ng exits 0, and every listing holds every object the kernel had
both before and after it was read."""
import errno
import os
import shutil
import subprocess
import threading

import pytest

from util import name_of, proc_sysvipc

pytestmark = pytest.mark.skipif(not shutil.which("stress-ng"), reason="stress-ng is not installed (tools/deps.sh test)")

SECONDS = 10
GONE = (errno.ENOENT, errno.EIDRM, errno.ENODATA)


def names_in_kernel(kind):
    return {ident: name_of(int(row["key"]), ident) for ident, row in proc_sysvipc(kind).items()}


class Reader(threading.Thread):
    """Lists, stats, getfattrs and reads one kind's directory until stopped."""

    def __init__(self, mnt, kind, stop):
        super().__init__(daemon=True)
        self.mnt, self.kind, self.stop = mnt, kind, stop
        self.listings = 0
        self.problems = []

    def run(self):
        try:
            while not self.stop.is_set():
                self.one_round()
        except Exception as e:          # noqa: BLE001: any surprise is the test's failure
            self.problems.append(repr(e))

    def one_round(self):
        before = names_in_kernel(self.kind)
        listed = os.listdir(self.mnt.p(self.kind))
        after = names_in_kernel(self.kind)
        self.listings += 1
        if len(listed) != len(set(listed)):
            self.problems.append(f"{self.kind}: a name listed twice: {sorted(listed)}")
        stable = {name for ident, name in before.items() if after.get(ident) == name}
        missing = stable - set(listed)
        if missing:
            self.problems.append(f"{self.kind}: listing lacks {sorted(missing)}, there before and after")
        for name in listed[:20]:
            path = self.mnt.p(self.kind, name)
            for probe in (lambda: os.stat(path), lambda: os.getxattr(path, "user.ipc.id"),
                          lambda: os.listxattr(path), lambda: self.read(path)):
                try:
                    probe()
                except OSError as e:
                    if e.errno not in GONE:
                        self.problems.append(f"{self.kind}/{name}: {e!r}")

    def read(self, path):
        if self.kind == "msg":
            return      # a read would receive stress-ng's messages
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            os.pread(fd, 4096, 0)
        finally:
            os.close(fd)


def test_stress_ng_sysv_stressors_with_readers(mnt, tmp_path):
    stop = threading.Event()
    readers = [Reader(mnt, kind, stop) for kind in ("shm", "sem", "msg")]
    for r in readers:
        r.start()
    try:
        run = subprocess.run(["stress-ng", "--shm-sysv", "2", "--sem-sysv", "2", "--msg", "2",
                              "--timeout", f"{SECONDS}s", "--metrics-brief", "--temp-path", str(tmp_path)],
                             capture_output=True, text=True)
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert run.returncode == 0, run.stdout + run.stderr
    assert mnt.proc.poll() is None, "the daemon died"
    for r in readers:
        assert r.listings > 10, f"{r.kind}: only {r.listings} listings"
        assert not r.problems, "\n".join(r.problems[:20])
