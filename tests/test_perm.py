# SPDX-License-Identifier: GPL-2.0-only
"""The caller's rights under SysV rules, through a root daemon mounted with allow_other."""
import os

import pytest

from util import errno_of, name_of, owned_objects, proc_sysvipc

OWNER, CREATOR, OTHER, MEMBER = 2001, 2002, 2003, 2004
GROUP, CGROUP = 3001, 3002


@pytest.fixture
def objects(ipc):
    """One object of each kind: owner OWNER:GROUP, creator root, mode 0640."""
    return owned_objects(ipc, 0o640, OWNER, GROUP)


def path_of(mnt, kind, obj):
    return mnt.p(kind, name_of(obj.key))


@pytest.mark.parametrize("kind", ["shm", "sem", "msg"])
def test_read_and_write_follow_the_mode_bits(mnt, objects, kind):
    path = path_of(mnt, kind, objects[kind])
    ro = f"os.close(os.open({path!r}, os.O_RDONLY))"
    wo = f"os.close(os.open({path!r}, os.O_WRONLY))"
    # Owner: rw-; group: r--; other: ---.
    assert errno_of(OWNER, 1, ro) == "OK"
    assert errno_of(OWNER, 1, wo) == "OK"
    assert errno_of(MEMBER, GROUP, ro) == "OK"
    assert errno_of(MEMBER, GROUP, wo) == "EACCES"
    assert errno_of(MEMBER, 1, ro, groups=[GROUP]) == "OK"      # supplementary group
    assert errno_of(OTHER, 1, ro) == "EACCES"
    assert errno_of(OTHER, 1, wo) == "EACCES"


@pytest.mark.parametrize("kind", ["shm", "sem", "msg"])
def test_creator_counts_as_owner(mnt, ipc, kind):
    # Created by CREATOR (through ipcfs, so cuid is theirs), then given to OWNER.
    key = ipc.fresh_key()
    path = mnt.p(kind, name_of(key))
    code = f"os.close(os.open({path!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))"
    assert errno_of(CREATOR, CGROUP, code) == "OK"
    if kind == "shm":
        assert errno_of(CREATOR, CGROUP, f"os.truncate({path!r}, 4096)") == "OK"
    ident = ipc.track_key(kind, key)
    row = proc_sysvipc(kind)[ident]
    assert (row["cuid"], row["uid"], row["cgid"]) == (str(CREATOR), str(CREATOR), str(CGROUP))
    assert errno_of(CREATOR, CGROUP, f"os.chown({path!r}, {OWNER}, {GROUP})") == "OK"
    assert errno_of(CREATOR, CGROUP, f"os.chmod({path!r}, 0o660)") == "OK"
    # The creator still reads, writes and controls it; so does the new owner.
    assert errno_of(CREATOR, 1, f"os.close(os.open({path!r}, os.O_RDWR))") == "OK"
    assert errno_of(OWNER, 1, f"os.close(os.open({path!r}, os.O_RDWR))") == "OK"
    # The creator's group counts as a group too.
    assert errno_of(MEMBER, CGROUP, f"os.close(os.open({path!r}, os.O_RDWR))") == "OK"
    assert errno_of(OTHER, 1, f"os.close(os.open({path!r}, os.O_RDONLY))") == "EACCES"
    assert errno_of(OWNER, 1, f"os.chmod({path!r}, 0o600)") == "OK"
    assert errno_of(CREATOR, 1, f"os.unlink({path!r})") == "OK"
    assert ident not in proc_sysvipc(kind)


@pytest.mark.parametrize("kind", ["shm", "sem", "msg"])
def test_only_owner_creator_or_admin_may_control(mnt, objects, kind):
    obj = objects[kind]
    path = path_of(mnt, kind, obj)
    for uid, gid in ((OTHER, 1), (MEMBER, GROUP)):
        assert errno_of(uid, gid, f"os.chmod({path!r}, 0o666)") == "EPERM"
        assert errno_of(uid, gid, f"os.chown({path!r}, {uid}, -1)") == "EPERM"
        assert errno_of(uid, gid, f"os.unlink({path!r})") == "EPERM"
    row = proc_sysvipc(kind)[obj.id]
    assert (row["perms"], row["uid"]) == ("640", str(OWNER))
    assert errno_of(OWNER, 1, f"os.chmod({path!r}, 0o600)") == "OK"
    assert proc_sysvipc(kind)[obj.id]["perms"] == "600"
    # Holders of CAP_SYS_ADMIN (root here) may, whoever owns the object.
    os.chmod(path, 0o644)
    assert proc_sysvipc(kind)[obj.id]["perms"] == "644"
    assert errno_of(OWNER, 1, f"os.unlink({path!r})") == "OK"
    assert obj.id not in proc_sysvipc(kind)


def test_listing_and_stat_need_no_permission(mnt, objects):
    # As ipcs: everyone sees every object and its attributes.
    for kind, obj in objects.items():
        path = path_of(mnt, kind, obj)
        code = (f"assert {os.path.basename(path)!r} in os.listdir({os.path.dirname(path)!r})\n"
                f"st = os.stat({path!r})\nassert st.st_uid == {OWNER}\n"
                f"os.getxattr({path!r}, 'user.ipc.key')")
        assert errno_of(OTHER, 1, code) == "OK"


def test_truncate_needs_write_permission(mnt, objects):
    path = path_of(mnt, "sem", objects["sem"])
    assert errno_of(MEMBER, GROUP, f"os.truncate({path!r}, 2)") == "EACCES"
    assert proc_sysvipc("sem")[objects["sem"].id]["nsems"] == "1"


def test_unprivileged_daemon_shows_what_its_user_may(ipc):
    """ipcfs run by an ordinary user: the kernel's own checks apply to the daemon too."""
    import pathlib
    import subprocess
    import tempfile
    from util import IPCFS, wait_for_mount_change
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="ipcfs-user-"))
    os.chown(mnt, OTHER, OTHER)
    mine = ipc.shm(mode=0o600)
    mine.uid = OTHER
    theirs = ipc.shm(mode=0o600)
    p = subprocess.Popen(["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups",
                          IPCFS, "-f", str(mnt)], stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_mount_change(str(mnt), True, p)
        code = (f"print(len(open({str(mnt / 'shm' / f'0x{mine.key:08x}')!r}, 'rb').read()))")
        r = subprocess.run(["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups",
                            "/usr/bin/python3", "-c", code], capture_output=True, text=True)
        assert r.stdout.strip() == "4096", r.stderr
        assert errno_of(OTHER, OTHER, f"open({str(mnt / 'shm' / f'0x{theirs.key:08x}')!r}, 'rb')") \
            == "EACCES"
        assert errno_of(OTHER, OTHER, f"os.unlink({str(mnt / 'shm' / f'0x{theirs.key:08x}')!r})") \
            == "EPERM"
        assert theirs.id in proc_sysvipc("shm")
    finally:
        subprocess.run(["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups",
                        "fusermount3", "-u", str(mnt)], check=True)
        assert p.wait() == 0
        assert p.stderr.read() == ""
        mnt.rmdir()
