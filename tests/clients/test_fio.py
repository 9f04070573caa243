# SPDX-License-Identifier: GPL-2.0-only
"""fio on /shm files, as a storage tester would point it at any file: random reads and
writes of 4 KiB to 1 MiB with crc32c verification, through psync in both /shm modes and
through the mmap engine where passthrough maps the segment itself."""
import os
import shutil
import subprocess

import pytest

from util import name_of, proc_sysvipc

SIZE = 32 << 20

pytestmark = pytest.mark.skipif(not shutil.which("fio"), reason="fio is not installed (tools/deps.sh test)")


def fio(path, *args):
    cmd = ["fio", "--name=ipcfs", f"--filename={path}", f"--size={SIZE}", "--fallocate=none",
           "--allow_file_create=0", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1",
           "--verify_state_save=0", "--randrepeat=1", "--output-format=terse", "--terse-version=3", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd="/tmp")
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"
    assert not r.stderr.strip(), r.stderr        # a verify failure, or anything else fio complains of
    return r


def segment(ipc, mnt):
    s = ipc.shm(size=SIZE, mode=0o600)
    return s, mnt.p("shm", name_of(s.key))


@pytest.mark.parametrize("bs", ["4k", "64k", "1m", "4k-1m"])
@pytest.mark.parametrize("rw", ["randwrite", "randrw"])
def test_psync_random_io_verified(mnt, ipc, bs, rw):
    s, path = segment(ipc, mnt)
    fio(path, "--ioengine=psync", f"--rw={rw}", f"--bsrange={bs}" if "-" in bs else f"--bs={bs}")
    row = proc_sysvipc("shm")[s.id]
    assert (row["size"], row["nattch"]) == (str(SIZE), "0")     # fio neither grew nor kept it


@pytest.mark.parametrize("bs", ["4k", "1m"])
def test_mmap_engine_verified(dmnt, ipc, bs):
    mode, why = dmnt.shm_mode()
    if mode != "passthrough":
        if os.environ.get("IPCFS_MODE") == "passthrough" and "kernel offers no" not in why:
            pytest.fail(f"IPCFS_MODE=passthrough, but the daemon chose classic mode: {why}")
        pytest.skip(f"MAP_SHARED of /shm files needs passthrough: {why}")
    s, path = segment(ipc, dmnt)
    fio(path, "--ioengine=mmap", "--rw=randrw", f"--bs={bs}")
    # The mapping was the segment's own memory: a shmat reader sees what fio wrote there.
    s.attach()
    try:
        assert s.read() != b" " * SIZE
    finally:
        s.detach()
