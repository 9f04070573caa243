# SPDX-License-Identifier: GPL-2.0-only
"""coreutils, util-linux, tar and Python's shutil on ipcfs files, each compared with the
same command on a tmpfs file: the same bytes and the same exit status, or a difference
that docs/design.md ("Tools nobody here wrote") names.

Each case is a shell command with {f} (the file under test, existing and holding DATA),
{new} (a name that does not exist yet), {src} (a tmpfs file holding DATA) and {out} (a
tmpfs path to write to).  The check compares what the command leaves in {f}, {new} and
{out} and its exit status."""
import hashlib
import os
import subprocess
import tempfile

import pytest
import sysv_ipc

from util import name_of, proc_sysvipc

DATA = bytes(range(256)) * 273 + b"tail"     # 69,892 bytes: not a multiple of a page

# name: (command, expected difference on ipcfs or None)
SHM_CASES = {
    "cp in": ("cp {src} {new}", None),
    "cp out": ("cp {f} {out}", None),
    "cp --sparse=always out": ("cp --sparse=always {f} {out}", None),
    "cp over": ("cp {src} {f}", None),
    "install": ("install -m 644 {src} {new} && stat -c %a {new} > {out}", None),
    "dd in": ("dd if={src} of={new} bs=4096 status=none", None),
    "dd out": ("dd if={f} of={out} bs=1M status=none", None),
    "dd conv=notrunc": ("printf XYZ | dd of={f} bs=1 seek=10 conv=notrunc status=none", None),
    "tee": ("tee {new} < {src} > {out}", None),
    "truncate grow": ("truncate -s 100000 {f}", None),
    "truncate shrink": ("truncate -s 1000 {f}", None),
    "cmp": ("cmp {src} {f} > {out}", None),
    "sha256sum": ("sha256sum < {f} > {out}", None),
    "head": ("head -c 1000 {f} > {out}", None),
    "tail": ("tail -c 1000 {f} > {out}", None),
    "split": ("cd $(dirname {out}) && split -b 4096 {f} piece. && cat piece.* > {out} && rm piece.*",
              None),
    "stat size and mode": ("stat -c '%s %a %F' {f} > {out}", None),
    "du apparent size": ("du -b {f} | cut -f1 > {out}", None),
    "find by size": ("find $(dirname {f}) -name $(basename {f}) -size +60k > /dev/null && echo found > {out}",
                     None),
    "tar c": ("tar -C $(dirname {f}) -cf - $(basename {f}) | tar -xOf - > {out}", None),
    "tar x": ("d=$(mktemp -d) && cp {src} $d/$(basename {new}) && tar -C $d -cf $d.tar . && "
              "tar -C $(dirname {new}) -xf $d.tar $(basename {new})", None),
    "tar x --xattrs": ("d=$(mktemp -d) && cp {src} $d/$(basename {new}) && tar -C $d --xattrs -cf $d.tar . && "
                       "tar -C $(dirname {new}) --xattrs -xf $d.tar $(basename {new})", None),
    "shutil.copy in": ("/usr/bin/python3 -c 'import shutil,sys; shutil.copy(sys.argv[1], sys.argv[2])' {src} {new}",
                       None),
    "shutil.copy out": ("/usr/bin/python3 -c 'import shutil,sys; shutil.copy(sys.argv[1], sys.argv[2])' {f} {out}",
                        None),
    "shutil.copy2 out": ("/usr/bin/python3 -c 'import shutil,sys; shutil.copy2(sys.argv[1], sys.argv[2])' {f} {out}",
                         None),
    "sed -i": ("sed -i s/tail/TAIL/ {f}", "refused: its temporary file's name is not a key"),
}


def run(cmd, **names):
    return subprocess.run(["bash", "-c", cmd.format(**names)], capture_output=True, text=True)


def contents(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def shm_outcome(mnt, ipc, cmd, tmp):
    """Run cmd on a fresh segment holding DATA: (status, {f, new, out} contents)."""
    seg = ipc.shm(size=len(DATA), mode=0o644)
    seg.attach()
    seg.write(DATA)
    seg.detach()
    new_key = ipc.fresh_key()
    names = dict(f=mnt.p("shm", name_of(seg.key)), new=mnt.p("shm", name_of(new_key)),
                 src=os.path.join(tmp, "src"), out=os.path.join(tmp, "out"))
    with open(names["src"], "wb") as fh:
        fh.write(DATA)
    try:
        r = run(cmd, **names)
    finally:
        ipc.track_key("shm", new_key)
        ipc.track_key("shm", seg.key)
    return r, {k: contents(names[k]) for k in ("f", "new", "out")}


def tmpfs_outcome(cmd, tmp):
    names = dict(f=os.path.join(tmp, "f"), new=os.path.join(tmp, "new"),
                 src=os.path.join(tmp, "src"), out=os.path.join(tmp, "out"))
    for k in ("f", "src"):
        with open(names[k], "wb") as fh:
            fh.write(DATA)
    os.chmod(names["f"], 0o644)
    r = run(cmd, **names)
    return r, {k: contents(names[k]) for k in ("f", "new", "out")}


@pytest.mark.parametrize("case", SHM_CASES)
def test_shm_as_tmpfs(mnt, ipc, case):
    cmd, difference = SHM_CASES[case]
    with tempfile.TemporaryDirectory(dir="/dev/shm") as a, tempfile.TemporaryDirectory(dir="/dev/shm") as b:
        want, want_files = tmpfs_outcome(cmd, a)
        got, got_files = shm_outcome(mnt, ipc, cmd, b)
    if difference is None:
        assert (got.returncode, got_files) == (want.returncode, want_files), \
            f"ipcfs: {got.stderr}\ntmpfs: {want.stderr}"
    elif difference.startswith("refused"):
        assert want.returncode == 0 and got.returncode != 0, got.stderr
        assert got_files["f"] == DATA                       # nothing half-done
    else:
        assert want.returncode == 0 and got.returncode != 0 and got_files["out"] == want_files["out"], \
            got.stderr


def test_tar_x_xattrs_of_an_archive_of_segments(mnt, ipc, tmp_path):
    """The archive carries user.ipc.* (the kernel's record of the old segment): the data
    comes back under the new key, the record cannot be written (EPERM): tar warns and exits 0."""
    seg = ipc.shm(size=len(DATA), mode=0o640)
    seg.attach()
    seg.write(DATA)
    seg.detach()
    archive = tmp_path / "a.tar"
    assert run("tar -C $(dirname {f}) --xattrs -cf {a} $(basename {f})", f=mnt.p("shm", name_of(seg.key)),
               a=archive).returncode == 0
    ipc.track_key("shm", seg.key)
    seg.remove()
    r = run("tar -C {d} --xattrs -xf {a}", d=mnt.p("shm"), a=archive)
    ipc.track_key("shm", seg.key)
    assert r.returncode == 0 and "user.ipc." in r.stderr and "Operation not permitted" in r.stderr, r.stderr
    with open(mnt.p("shm", name_of(seg.key)), "rb") as fh:
        assert fh.read() == DATA
    assert proc_sysvipc("shm")[ipc.track_key("shm", seg.key)]["perms"] == "640"


# /sem and /msg: what shell users do with them.

def test_sem_with_shell_tools(mnt, ipc, tmp_path):
    ident = ipc.sem(nsems=3)
    f = mnt.p("sem", f"id-{ident}")
    assert run("echo '1 2 3' > {f}", f=f).returncode == 0
    for cmd, want in [("cat {f}", "1 2 3\n"), ("head -c 3 {f}", "1 2"), ("cp {f} {out} && cat {out}", "1 2 3\n"),
                      ("tee {f} <<< '0:+1 2:-1' > /dev/null && cat {f}", "2 2 2\n"),
                      ("sha256sum < {f} | cut -c1-8", hashlib.sha256(b"2 2 2\n").hexdigest()[:8] + "\n"),
                      ("stat -c %s {f}", "3\n")]:
        r = run(cmd, f=f, out=str(tmp_path / "out"))
        assert (r.returncode, r.stdout) == (0, want), (cmd, r.stderr)


def test_msg_with_shell_tools(mnt, ipc):
    q = ipc.msg()
    f = mnt.p("msg", name_of(q.key))
    assert run("echo first > {f} && printf second | tee {f} > /dev/null", f=f).returncode == 0
    assert proc_sysvipc("msg")[q.id]["qnum"] == "2"
    r = run("dd if={f} bs=100 count=1 status=none; dd if={f} bs=100 count=1 status=none", f=f)  # a read, a message
    assert (r.returncode, r.stdout) == (0, "first\nsecond")
    assert q.current_messages == 0
    with pytest.raises(sysv_ipc.BusyError):
        q.receive(block=False)
