# SPDX-License-Identifier: GPL-2.0-only
import os
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
