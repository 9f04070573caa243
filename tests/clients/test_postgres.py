# SPDX-License-Identifier: GPL-2.0-only
"""PostgreSQL 15 with System V shared memory (shared_memory_type = sysv,
dynamic_shared_memory_type = sysv), inspected through ipcfs as an admin would: the
listing against ipcs, user.ipc.attached against the backends' own /proc maps (parallel
query segments appearing and going), the main segment's bytes against a shmat reader, a
redirect refused while it runs, rm as ipcrm, a pgbench run beside a listing loop, and
the memory let go once it stops.  Reading never attaches: the daemon never becomes the
segment's lpid."""
import errno
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading

import pytest
import sysv_ipc

import util
from util import name_of, oserror, proc_sysvipc, wait_until

BIN = "/usr/lib/postgresql/15/bin"
pytestmark = pytest.mark.skipif(not os.path.exists(f"{BIN}/postgres"),
                                reason="postgresql-15 is not installed (tools/deps.sh test)")


def as_postgres(*cmd, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, **kw)


class Server:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "pg")
        os.makedirs(self.dir)
        os.chown(self.dir, int(subprocess.check_output(["id", "-u", "postgres"])),
                 int(subprocess.check_output(["id", "-g", "postgres"])))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.data, self.log = os.path.join(self.dir, "data"), os.path.join(self.dir, "log")
        r = as_postgres(f"{BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        assert r.returncode == 0, r.stderr
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = ''\nunix_socket_directories = '{self.dir}'\n"
                    "shared_memory_type = sysv\ndynamic_shared_memory_type = sysv\n"
                    "max_parallel_workers_per_gather = 2\nparallel_setup_cost = 0\nparallel_tuple_cost = 0\n"
                    "min_parallel_table_scan_size = 0\n")
        r = as_postgres(f"{BIN}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "start")
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def sql(self, query, check=True):
        r = as_postgres(f"{BIN}/psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-At",
                        "-c", query)
        if check:
            assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def psql_background(self, query):
        return subprocess.Popen(["runuser", "-u", "postgres", "--", f"{BIN}/psql", "-h", self.dir, "-p",
                                 str(self.port), "-U", "postgres", "-At", "-c", query],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def segments(self):
        """{id: row} of the segments the postmaster or its backends created."""
        return {i: r for i, r in proc_sysvipc("shm").items() if self.ours(int(r["cpid"]))}

    def ours(self, pid):
        if pid == self.pid:
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[1]) == self.pid
        except (FileNotFoundError, ProcessLookupError):
            return False        # gone: a backend that made a segment and left

    def stop(self):
        return as_postgres(f"{BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def log_errors(self):
        with open(self.log) as f:
            return [line for line in f if any(w in line for w in ("ERROR", "FATAL", "PANIC"))
                    and "terminating connection due to administrator command" not in line]


@pytest.fixture
def pg():
    tmp = tempfile.mkdtemp(prefix="ipcfs-pg-", dir="/var/tmp")     # the postgres user must reach it
    os.chmod(tmp, 0o755)
    server = Server(tmp)
    yield server
    server.stop()
    for ident in server.segments():
        subprocess.run(["ipcrm", "-m", str(ident)], capture_output=True)
    shutil.rmtree(tmp)


def attached_per_maps(ident):
    """pid of every process whose /proc maps has segment ident: the test's own scan."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/maps") as f:
                if any(" /SYSV" in line and line.split()[4] == str(ident) for line in f):
                    pids.add(int(entry))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return pids


def attached_per_ipcfs(mnt, key, ident):
    text = util.listed(os.getxattr(mnt.p("shm", name_of(key, ident)), "user.ipc.attached"))
    return {int(p.split(":")[0]) for p in text.split()}


def test_postgres_through_ipcfs(mnt, pg):
    ident, row = max(((i, r) for i, r in pg.segments().items() if int(r["cpid"]) == pg.pid),
                     key=lambda item: int(item[1]["size"]))
    key = int(row["key"])
    path = mnt.p("shm", name_of(key, ident))

    # The listing is ipcs's.
    listed = set(os.listdir(mnt.p("shm")))
    assert {name_of(int(r["key"]), i) for i, r in proc_sysvipc("shm").items()} <= listed

    # Attached: the backends that map it, as their own maps say, and never a daemon.
    wait_until(lambda: attached_per_ipcfs(mnt, key, ident) == attached_per_maps(ident) - {mnt.proc.pid})
    assert pg.pid in attached_per_ipcfs(mnt, key, ident)
    assert int(proc_sysvipc("shm")[ident]["nattch"]) == len(attached_per_maps(ident) - {mnt.proc.pid})

    # The bytes: what a shmat reader sees (live memory: an idle server rarely writes it,
    # so a pair of reads that agree must come soon).
    seg = sysv_ipc.SharedMemory(key)

    def same_bytes():
        with open(path, "rb") as f:
            through_ipcfs = hashlib.sha256(f.read()).digest()
        return through_ipcfs == hashlib.sha256(seg.read()).digest()
    try:
        wait_until(same_bytes)
    finally:
        seg.detach()
    assert int(proc_sysvipc("shm")[ident]["lpid"]) != mnt.proc.pid     # read without attaching

    # Parallel query segments appear, attached to the workers, and go.
    before = set(pg.segments())
    q = pg.psql_background("SET force_parallel_mode = on; "
                           "SELECT count(*) FROM generate_series(1, 40000000) AS g(i) WHERE i % 7 = 3")
    try:
        wait_until(lambda: set(pg.segments()) - before or q.poll() is not None)
        new = set(pg.segments()) - before
        assert new, q.communicate()
        dsm = next(iter(new))
        dsm_key = int(proc_sysvipc("shm").get(dsm, {"key": "0"})["key"])

        # The session's backend and its workers, as their own maps say. A process that maps
        # the segment both before and after ipcfs is asked must be listed; one that came or
        # went meanwhile may or may not be (the segment exists unattached between shmget and
        # the creator's shmat, and between the last shmdt and IPC_RMID).
        def listed_as_mapped():
            try:
                mapped_before = attached_per_maps(dsm)
                seen = attached_per_ipcfs(mnt, dsm_key, dsm)
                mapped_after = attached_per_maps(dsm)
            except FileNotFoundError:
                return True     # the query ended first
            assert mapped_before & mapped_after <= seen, (mapped_before, seen, mapped_after)
            assert mnt.proc.pid not in seen
            # Each is the server's (a worker may exit once listed: then nothing can tell).
            assert all(pg.ours(p) or not os.path.exists(f"/proc/{p}") for p in seen), seen
            return bool(seen & mapped_after)
        wait_until(listed_as_mapped)
    finally:
        out, err = q.communicate()
    assert q.returncode == 0 and out.split()[-1] == "5714286", out + err
    wait_until(lambda: not (set(pg.segments()) - before))
    assert not (set(os.listdir(mnt.p("shm"))) & {name_of(0, i) for i in new if i not in pg.segments()})

    # A mistyped redirect cannot wipe it; the server goes on.
    r = subprocess.run(["sh", "-c", f": > {path}"], capture_output=True, text=True)
    assert r.returncode != 0 and "busy" in r.stderr.lower(), r.stderr
    assert pg.sql("SELECT 1") == "1"

    # pgbench beside a listing loop: no error, and the daemon never attaches.
    assert as_postgres(f"{BIN}/pgbench", "-h", pg.dir, "-p", str(pg.port), "-U", "postgres", "-i", "-s", "2",
                       "postgres").returncode == 0
    stop, problems = threading.Event(), []

    def lister():
        while not stop.is_set():
            for name in os.listdir(mnt.p("shm")):
                try:
                    os.stat(mnt.p("shm", name))
                    os.getxattr(mnt.p("shm", name), "user.ipc.attached")
                    with open(mnt.p("shm", name), "rb") as f:
                        try:
                            f.read(65536)
                        except OSError as e:    # removed since the open: as SysV says
                            if e.errno != errno.EIDRM:
                                raise
                except FileNotFoundError:
                    pass
                except OSError as e:
                    problems.append(f"{name}: {e!r}")
            row = proc_sysvipc("shm").get(ident)
            if row and int(row["lpid"]) == mnt.proc.pid:
                problems.append("the daemon attached the main segment")
    t = threading.Thread(target=lister)
    t.start()
    try:
        bench = as_postgres(f"{BIN}/pgbench", "-h", pg.dir, "-p", str(pg.port), "-U", "postgres", "-c", "4",
                            "-T", "8", "postgres")
    finally:
        stop.set()
        t.join()
    assert bench.returncode == 0, bench.stdout + bench.stderr
    assert not problems, problems[:10]
    assert not pg.log_errors(), pg.log_errors()

    # rm is ipcrm: the segment is marked for removal, the server still runs on it.
    os.unlink(path)
    assert proc_sysvipc("shm")[ident]["key"] == "0"
    assert int(proc_sysvipc("shm")[ident]["perms"], 8) & 0o1000    # SHM_DEST
    assert pg.sql("SELECT 2") == "2"

    # Stopped, its memory is let go: by the kernel, and by the daemon.
    assert pg.stop().returncode == 0
    assert ident not in proc_sysvipc("shm")
    name = f"/SYSV{key:08x}"

    def daemon_maps_it():
        with open(f"/proc/{mnt.proc.pid}/maps") as f:
            return any(name in line for line in f)
    wait_until(lambda: not daemon_maps_it())
    assert oserror(os.stat, path) == "ENOENT"
