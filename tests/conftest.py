# SPDX-License-Identifier: GPL-2.0-only
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import util  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if not os.path.exists("/dev/fuse"):
        skip = pytest.mark.skip(reason="/dev/fuse is missing: cannot mount FUSE filesystems here")
        for item in items:
            item.add_marker(skip)


def _mount(request, options=(), debug=False):
    m = util.Mount(options=options, debug=debug)

    def finish():
        status = m.unmount()
        problems = m.problems()
        assert status == 0, f"ipcfs exited {status}:\n{m.output()}"
        assert not problems, "ipcfs printed warnings or errors:\n" + "\n".join(problems)

    request.addfinalizer(finish)
    return m


@pytest.fixture(scope="session", autouse=True)
def test_users():
    util.ensure_test_users()


def _objects():
    """Every SysV object of this IPC namespace, as (kind, id, key)."""
    return {(kind, ident, row["key"]) for kind in ("shm", "sem", "msg")
            for ident, row in util.proc_sysvipc(kind).items()}


@pytest.fixture(scope="session", autouse=True)
def no_object_outlives_the_run():
    """Every test removes what it made: an object made during the run and left at its end is
    a leak (it fails the run's last test, at teardown)."""
    before = _objects()
    yield
    left = sorted(_objects() - before)
    assert not left, f"IPC objects the tests left behind (kind, id, key): {left}"


@pytest.fixture
def mnt(request):
    """A fresh ipcfs, root with allow_other, so that other uids can be tested."""
    return _mount(request, options=("allow_other",))


@pytest.fixture
def dmnt(request):
    """Like mnt, with -d: the daemon's debug log is available as dmnt.output()."""
    return _mount(request, options=("allow_other",), debug=True)


@pytest.fixture
def mount_with(request):
    """Mount with chosen options: mount_with('classic', debug=True)."""
    def make(*options, debug=False):
        return _mount(request, options=("allow_other",) + options, debug=debug)
    return make


@pytest.fixture
def ipc():
    reg = util.IpcRegistry()
    yield reg
    reg.cleanup()


@pytest.fixture(params=["builtin", "kernel"])
def chan_backend(request):
    """Each /chan backend: the kernel one (channel.ko) only in the VM, where it can load."""
    if request.param == "kernel" and not os.environ.get("IPCFS_IN_VM"):
        pytest.skip("needs channel.ko, which loads only in the VM: tests/run runs it there")
    return request.param


@pytest.fixture
def chan_with(request, chan_backend, mount_with):
    """chan_with(size=None, mode=None): ipcfs with 4 channels on this backend, of size bytes
    (the backend's default if None), channel 0 of mode (a built-in default if None)."""
    def make(size=None, mode=None):
        if chan_backend == "builtin":
            options = ["chan=builtin"]
            options += [f"chan_size={size}"] if size else []
            options += [f"chan_mode={mode:04o}"] if mode is not None else []
            return mount_with(*options)
        subprocess.run(["insmod", util.CHANNEL_KO] + ([f"buf_size={size}"] if size else []), check=True)
        # Finalizers run last first: unmount (the daemon's device files close), then rmmod.
        request.addfinalizer(lambda: subprocess.run(["rmmod", "channel"], check=True))
        m = mount_with("chan=kernel")
        if mode is not None:
            os.chmod(m.p("chan", "0"), mode)        # the device node's mode
        return m
    return make
