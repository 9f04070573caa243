# SPDX-License-Identifier: GPL-2.0-only
"""Mounting like a real filesystem: staged install, mount helpers, fstab, IPC namespaces,
restart safety, the man page."""
import os
import re
import signal
import subprocess
import sys

import util
from util import Mount, name_of, proc_sysvipc, wait_for_mount_change

MOUNT_SCRIPT = r"""
set -eu
stage=$1 dir=$2 fstab=$3 root_names=$4
# A private mount namespace: the staged /usr/local stands in for the real one.
mount --bind "$stage/usr/local" /usr/local
# A check that fails leaves no daemon serving a mount nobody can see.
trap 'umount "$dir" 2>/dev/null || true' EXIT
check() {  # the mount is ipcfs, lists the kinds, and goes away with umount
	findmnt -n -o FSTYPE "$dir" | grep -qx fuse.ipcfs || { echo "not fuse.ipcfs: $1"; exit 1; }
	[ "$(ls "$dir" | tr '\n' ' ')" = "$root_names" ] || { echo "bad listing: $1"; exit 1; }
	umount "$dir"
	! findmnt -n "$dir" >/dev/null || { echo "still mounted: $1"; exit 1; }
	echo "ok $1"
}
PATH=/usr/local/bin:$PATH mount -t fuse.ipcfs ipcfs "$dir" -o allow_other
check fuse.ipcfs
mount -t ipcfs ipcfs "$dir" -o allow_other,nofail
check ipcfs
echo "ipcfs $dir fuse.ipcfs defaults,allow_other,noauto 0 0" >"$fstab"
PATH=/usr/local/bin:$PATH mount -T "$fstab" "$dir"
check fstab
"""


def test_staged_install_mounts_three_ways(tmp_path):
    stage = tmp_path / "stage"
    subprocess.run(["meson", "install", "-C", util.BUILD, "--quiet", "--destdir", str(stage)],
                   check=True, capture_output=True)
    local = stage / "usr" / "local"
    for f in ["bin/ipcfs", "sbin/mount.ipcfs", "lib/systemd/system/ipcfs@.service",
              "share/man/man8/ipcfs.8", "include/linux/channel.h",
              "src/channel-0.1.0/channel.c", "src/channel-0.1.0/dkms.conf"]:
        assert (local / f).exists(), f
    # mount(8) looks for mount.ipcfs in /sbin only.
    helper = "/usr/sbin/mount.ipcfs"
    assert not os.path.exists(helper), "a real mount.ipcfs is installed; not touching it"
    os.symlink("/usr/local/sbin/mount.ipcfs", helper)
    try:
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c",
                            MOUNT_SCRIPT, "script", str(stage), str(mnt), str(tmp_path / "fstab"),
                            " ".join(util.ROOT_NAMES) + " "],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.split("\n")[:3] == ["ok fuse.ipcfs", "ok ipcfs", "ok fstab"]
    finally:
        os.unlink(helper)


def test_man_page_renders_without_warnings():
    page = os.path.join(util.REPO, "docs", "ipcfs.8")
    r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", page], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = re.sub(".\x08", "", r.stdout)                        # no overstrike
    assert "ipc_ns=PATH" in text and "EIDRM" in text


INSIDE = r"""
import sys, sysv_ipc
shm = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=4096)
shm.write(b"inside")
sem = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, initial_value=0)
print(shm.key, sem.key, flush=True)
sys.stdin.readline()                     # the test operates through the mount meanwhile
print(sem.value, flush=True)
shm.detach(); shm.remove(); sem.remove()
"""


def test_ipc_namespace(request, ipc):
    outside = ipc.shm(size=100)
    child = subprocess.Popen(["unshare", "--ipc", sys.executable, "-c", INSIDE],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        shm_key, sem_key = map(int, child.stdout.readline().split())
        m = Mount(options=("allow_other", f"ipc_ns=/proc/{child.pid}/ns/ipc"))
        try:
            names = os.listdir(m.p("shm"))
            assert name_of(shm_key) in names         # created inside: shown
            assert name_of(outside.key) not in names              # created outside: not
            with open(m.p("shm", name_of(shm_key)), "rb") as f:
                assert f.read(6) == b"inside"
            with open(m.p("sem", name_of(sem_key)), "w") as f:
                f.write("5\n")                                      # acts inside
            # and the host's own view does not have it
            assert sem_key not in [int(o["key"]) for o in proc_sysvipc("sem").values()]
        finally:
            assert m.unmount() == 0
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "5\n"
        assert child.wait() == 0
    finally:
        child.kill()
        child.wait()


class Process:
    """A process that is not our child, as wait_for_mount_change() wants one."""

    def __init__(self, pid):
        self.pid = pid

    def poll(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return 0 if f.read().rsplit(")", 1)[1].split()[0] == "Z" else None
        except FileNotFoundError:
            return 0


def auto_unmount_helper(path):
    """The fusermount3 process that -o auto_unmount leaves watching the mount at path."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"fusermount3" in cmdline and b"auto_unmount" in cmdline and path.encode() in cmdline:
            return Process(int(pid))
    raise AssertionError(f"no fusermount3 --auto-unmount helper for {path}")


def test_sigkill_and_remount_lose_nothing(ipc):
    seg = ipc.shm(size=8192, mode=0o600)
    seg.attach()
    seg.write(b"survives", 100)
    seg.detach()
    sem = ipc.sem(value=3)
    q = ipc.msg()
    q.send(b"queued", type=7)
    m = Mount(options=("allow_other", "auto_unmount"))
    path = m.path
    try:
        unmounter = auto_unmount_helper(path)
    except AssertionError:
        m.unmount()
        raise
    os.kill(m.proc.pid, signal.SIGKILL)
    m.proc.wait()
    # auto_unmount: the kernel mount goes with the daemon, no "Transport endpoint is not connected".
    # Its helper (fusermount3) does that: if it dies and leaves the mount, the wait fails, not hangs.
    assert wait_for_mount_change(path, False, unmounter), "fusermount3's auto_unmount helper left the mount"
    assert os.listdir(path) == []
    m2 = Mount(options=("allow_other",), mountpoint=path)
    try:
        with open(m2.p("shm", name_of(seg.key)), "rb") as f:
            f.seek(100)
            assert f.read(8) == b"survives"
        with open(m2.p("sem", name_of(sem.key))) as f:
            assert f.read() == "3\n"
        assert q.current_messages == 1
        fd = os.open(m2.p("msg", f"0x{q.key:08x}@7"), os.O_RDONLY)
        assert os.read(fd, 100) == b"queued"
        os.close(fd)
    finally:
        assert m2.unmount() == 0
        os.rmdir(path)
