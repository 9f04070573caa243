# SPDX-License-Identifier: GPL-2.0-only
"""channel.ko, tested inside the VM: tests/vm/run runs this file (see tests/vm/kmod-tests)."""
import ctypes
import errno
import fcntl
import mmap
import os
import select
import signal
import struct
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from util import records_by_writer  # noqa: E402
REPO = os.path.dirname(os.path.dirname(HERE))
KO = os.path.join(REPO, "kmod", "channel.ko")
BUILD = os.environ.get("IPCFS_BUILD", os.path.join(REPO, "build"))
CHANREAD = os.path.join(BUILD, "tests", "vm", "chanread")

CHANNEL_IOC_LOST = (2 << 30) | (8 << 16) | (0xC4 << 8) | 1     # _IOR(0xC4, 1, __u64)
HDR = 16                                                        # struct channel_record

pytestmark = pytest.mark.skipif(not os.environ.get("IPCFS_IN_VM"),
                                 reason="runs inside the VM: tests/vm/run (bash tests/run does)")


def load(**params):
    args = [f"{k}={v}" for k, v in params.items()]
    subprocess.run(["insmod", KO] + args, check=True)


def unload():
    subprocess.run(["rmmod", "channel"], check=True)


@pytest.fixture
def module(request):
    """Load channel.ko (parameters from @pytest.mark.params), and require rmmod to work after."""
    marker = request.node.get_closest_marker("params")
    load(**(marker.kwargs if marker else {}))
    yield "/dev/channel0"
    unload()


def open_chan(path, flags=os.O_RDONLY):
    return os.open(path, flags)


def lost(fd):
    buf = bytearray(8)
    fcntl.ioctl(fd, CHANNEL_IOC_LOST, buf)
    return struct.unpack("Q", buf)[0]


def sysfs(name, ch=0):
    with open(f"/sys/class/channel/channel{ch}/{name}") as f:
        return int(f.read())


def test_broadcast_to_many_readers(module):
    readers = [open_chan(module) for _ in range(6)]
    w = open_chan(module, os.O_WRONLY)
    try:
        records = [b"one", b"two\x00bytes", os.urandom(5000)]
        for r in records:
            assert os.write(w, r) == len(r)
        for fd in readers:
            assert [os.read(fd, 65536) for _ in records] == records
        assert sysfs("readers") == 6
        assert sysfs("records") == 3
        assert sysfs("bytes") == sum(map(len, records))
    finally:
        for fd in readers + [w]:
            os.close(fd)
    assert sysfs("readers") == 0


def test_late_joiner_sees_only_new_records_and_seek(module):
    w = open_chan(module, os.O_WRONLY)
    try:
        os.write(w, b"before")
        fd = open_chan(module, os.O_RDONLY | os.O_NONBLOCK)
        assert oserr(os.read, fd, 100) == errno.EAGAIN        # starts at the live end
        os.write(w, b"after")
        assert os.read(fd, 100) == b"after"
        assert os.lseek(fd, 0, os.SEEK_SET) == 0              # replay what is still held
        assert os.read(fd, 100) == b"before"
        assert os.read(fd, 100) == b"after"
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.lseek(fd, 0, os.SEEK_END) == 0              # back to live
        assert oserr(os.read, fd, 100) == errno.EAGAIN
        for off, whence in [(1, os.SEEK_SET), (0, os.SEEK_CUR), (-1, os.SEEK_END)]:
            assert oserr(os.lseek, fd, off, whence) == errno.EINVAL
        assert oserr(os.pread, fd, 10, 0) == errno.ESPIPE
        os.close(fd)
    finally:
        os.close(w)


def oserr(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


def test_partial_reads_never_mix_records(module):
    fd = open_chan(module)
    w = open_chan(module, os.O_WRONLY)
    try:
        a, b = os.urandom(100), os.urandom(50)
        os.write(w, a)
        os.write(w, b)
        assert [os.read(fd, 30) for _ in range(4)] == [a[:30], a[30:60], a[60:90], a[90:]]
        assert os.read(fd, 1000) == b
    finally:
        os.close(fd)
        os.close(w)


def test_zero_length_and_oversized_writes(module):
    fd = open_chan(module, os.O_RDONLY | os.O_NONBLOCK)
    w = open_chan(module, os.O_WRONLY)
    try:
        assert os.write(w, b"") == 0
        size = int(open("/sys/module/channel/parameters/buf_size").read())
        assert oserr(os.write, w, b"x" * (size // 4 + 1)) == errno.EMSGSIZE
        assert os.write(w, b"y" * (size // 4)) == size // 4        # the largest record
        assert os.read(fd, size) == b"y" * (size // 4)
        assert oserr(os.read, fd, 10) == errno.EAGAIN              # and nothing else
        assert sysfs("records") == 1
    finally:
        os.close(fd)
        os.close(w)


@pytest.mark.params(buf_size=4096)
def test_overrun_gives_epipe_once_and_counts_lost(module):
    fd = open_chan(module, os.O_RDONLY | os.O_NONBLOCK)
    w = open_chan(module, os.O_WRONLY)
    try:
        # 100 records of 8 + 16 header bytes = 24 each: a 4096-byte ring holds 170,
        # so 300 overwrite the first ones.
        for i in range(300):
            os.write(w, b"%08d" % i)
        p = select.poll()
        p.register(fd, select.POLLIN | select.POLLPRI)
        assert p.poll(0)[0][1] & (select.POLLERR | select.POLLPRI)
        assert oserr(os.read, fd, 100) == errno.EPIPE
        n = lost(fd)
        assert n > 0
        assert sysfs("dropped") == n
        assert os.read(fd, 100) == b"%08d" % n                   # continues at the oldest held
        got = [os.read(fd, 100) for _ in range(299 - n)]
        assert got == [b"%08d" % i for i in range(n + 1, 300)]
        assert oserr(os.read, fd, 100) == errno.EAGAIN
    finally:
        os.close(fd)
        os.close(w)


def test_blocking_read_is_woken_and_poll(module):
    fd = open_chan(module)
    w = open_chan(module, os.O_WRONLY)
    code = (f"import os\nfd = os.open({module!r}, os.O_RDONLY)\nprint('OPEN', flush=True)\n"
            "print(os.read(fd, 100).decode(), flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLOUT)
        assert poller.poll(0) == [(fd, select.POLLOUT)]           # writable, nothing to read
        assert p.stdout.readline() == "OPEN\n"
        wait_blocked(p.pid)
        os.write(w, b"wake")
        assert p.stdout.readline() == "wake\n"                    # the blocked reader woke
        assert poller.poll(-1) == [(fd, select.POLLIN | select.POLLOUT)]
        assert p.wait() == 0
    finally:
        p.kill()
        p.wait()
        os.close(fd)
        os.close(w)


def test_signal_interrupts_a_blocked_read(module):
    code = ("import os, signal, sys\n"
            "signal.signal(signal.SIGINT, lambda *a: (_ for _ in ()).throw(InterruptedError()))\n"
            f"fd = os.open({module!r}, os.O_RDONLY)\n"
            "print('OPEN', flush=True)\n"
            "try:\n    os.read(fd, 100)\n    print('READ')\n"
            "except InterruptedError:\n    print('EINTR')\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "OPEN\n"
        wait_blocked(p.pid)
        p.send_signal(signal.SIGINT)
        assert p.stdout.readline() == "EINTR\n"
        assert p.wait() == 0
    finally:
        p.kill()
        p.wait()


def wait_blocked(pid, where="channel_read"):
    """Until pid sleeps in the kernel function where (/proc/<pid>/wchan)."""
    while True:
        with open(f"/proc/{pid}/wchan") as f:
            if where in f.read():
                return
        os.sched_yield()


def test_mmap_reader_and_writable_maps_refused(module):
    fd = open_chan(module)
    try:
        with pytest.raises(PermissionError):
            mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        ctl = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
        version, align, head, tail, data_off, data_size, tail_seq = struct.unpack("IIQQQQQ", ctl[:48])
        assert (version, align, data_off) == (1, 8, 4096)
        assert data_size == int(open("/sys/module/channel/parameters/buf_size").read())
        ctl.close()
    finally:
        os.close(fd)
    records = [os.urandom(n) for n in (1, 7, 8, 9, 1000, 6000)] * 20   # fits the 1 MiB ring
    p = subprocess.Popen([CHANREAD, module, str(len(records))], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "READY\n"
        w = open_chan(module, os.O_WRONLY)
        for r in records:
            os.write(w, r)
        os.close(w)
        lines = p.stdout.read().splitlines()
        assert p.wait() == 0
        assert lines == [f"{i} {len(r)} {sum(r)}" for i, r in enumerate(records)]
    finally:
        p.kill()
        p.wait()


@pytest.mark.params(buf_size=8192)
def test_mmap_reader_overrun_by_the_writer(module):
    w = open_chan(module, os.O_WRONLY)
    try:
        for i in range(1000):                                   # far more than 8 KiB holds
            os.write(w, b"%06d" % i)
        out = subprocess.run([CHANREAD, module, "1", "--from-oldest"], capture_output=True,
                             text=True, check=True).stdout.splitlines()
        assert out[0] == "READY"
        seq, length, _ = map(int, out[1].split())
        assert seq > 0 and length == 6                          # the oldest still held
        # A reader that starts at the oldest and is overtaken says how much it lost, and
        # every record is either read, whole, or counted as lost.
        p = subprocess.Popen([CHANREAD, module, "1000000", "--from-oldest"],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline() == "READY\n"
        for i in range(1000, 4000):
            os.write(w, b"%06d" % i)
        os.write(w, b"END")
        lines = p.stdout.read().splitlines()
        assert p.wait() == 0
        read = [int(x.split()[0]) for x in lines if not x.startswith("OVERRUN")]
        lost = sum(int(x.split()[1]) for x in lines if x.startswith("OVERRUN"))
        assert read == sorted(read) and read[-1] == 4000            # END is seq 4000
        assert len(read) + lost == 4001 - seq
        assert all(int(x.split()[1]) == 6 for x in lines[:-1] if not x.startswith("OVERRUN"))
    finally:
        os.close(w)


@pytest.mark.params(buf_size=1 << 22)
def test_concurrent_writers_never_tear_records(module):
    fd = open_chan(module, os.O_RDONLY | os.O_NONBLOCK)
    writer = ("import os, sys\n"
              "w = os.open(sys.argv[1], os.O_WRONLY)\n"
              "me = int(sys.argv[2])\n"
              "for i in range(1500):\n"
              "    n = 8 + (i * 37 + me * 101) % 1000\n"
              "    os.write(w, bytes([65 + me]) * n)\n")
    try:
        ps = [subprocess.Popen([sys.executable, "-c", writer, module, str(k)]) for k in range(4)]
        assert all(p.wait() == 0 for p in ps)
        counts = records_by_writer(fd)
        assert counts == {65 + k: 1500 for k in range(4)}    # all of them: the ring held them
    finally:
        os.close(fd)


def test_parameters_and_rounding():
    load(nr_channels=2, buf_size=5000)
    try:
        assert sorted(os.listdir("/sys/class/channel")) == ["channel0", "channel1"]
        assert os.path.exists("/dev/channel1") and not os.path.exists("/dev/channel2")
        assert open("/sys/module/channel/parameters/buf_size").read().strip() == "8192"
    finally:
        unload()
    for bad in ({"nr_channels": 0}, {"buf_size": 100}):
        r = subprocess.run(["insmod", KO] + [f"{k}={v}" for k, v in bad.items()],
                           capture_output=True)
        assert r.returncode != 0
    assert not os.path.exists("/sys/module/channel")


def test_rmmod_refused_while_open_then_load_unload_loop():
    load()
    fd = os.open("/dev/channel0", os.O_RDONLY)
    assert subprocess.run(["rmmod", "channel"], capture_output=True).returncode != 0
    os.close(fd)
    unload()
    for _ in range(20):
        load(nr_channels=8)
        fd = os.open("/dev/channel7", os.O_RDWR)
        os.write(fd, b"x")
        os.close(fd)
        unload()


def read_or_errno(fd):
    try:
        return os.read(fd, 65536)
    except OSError as e:
        return errno.errorcode[e.errno]


def assert_live_reader_waits_after(path, records):
    """Write records, then open a reader (a new open starts at head): nothing to read,
    no POLLIN, then exactly the next record."""
    w = open_chan(path, os.O_WRONLY)
    for rec in records:
        os.write(w, rec)
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert read_or_errno(r) == "EAGAIN"
        assert select.select([r], [], [], 0)[0] == []
        os.write(w, b"next")
        assert read_or_errno(r) == b"next"
        assert read_or_errno(r) == "EAGAIN"
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.params(buf_size=4096)
def test_live_reader_eight_bytes_before_the_end_of_the_ring_waits(module):
    """Issue 22: with head 8 bytes before the end, too little for a header, a reader at
    head skipped a lap and re-read the oldest record (then payload as headers)."""
    # spans 1024 * 3 + 1016: head at 4088
    assert_live_reader_waits_after(module, [bytes([n % 251]) * n for n in (1008, 1008, 1008, 1000)])


@pytest.mark.params(buf_size=4096)
def test_live_reader_on_a_stale_pad_header_waits(module):
    """Issue 22: repeating record sizes leave a PAD header from an earlier lap at head's
    offset; a reader at head took it for padding and skipped a lap."""
    # spans of 1040: the 4th wraps, padding at 3120; after the 6th head is there again
    assert_live_reader_waits_after(module, [bytes([i + 1]) * 1024 for i in range(6)])


@pytest.mark.params(buf_size=4096)
def test_faulting_write_changes_nothing(module):
    """Issue 22: a write whose buffer faults had already dropped records and written
    padding.  Now the payload is copied before anything changes (and before the lock)."""
    libc = ctypes.CDLL(None, use_errno=True)
    r = os.open(module, os.O_RDONLY | os.O_NONBLOCK)
    w = open_chan(module, os.O_WRONLY)
    try:
        records = [bytes([i + 1]) * 1008 for i in range(4)]      # the ring is full: 4 * 1024
        for rec in records:
            os.write(w, rec)
        counters = [sysfs(name) for name in ("records", "bytes", "dropped")]
        assert libc.write(w, ctypes.c_void_p(8), ctypes.c_size_t(1000)) == -1
        assert ctypes.get_errno() == errno.EFAULT
        assert [sysfs(name) for name in ("records", "bytes", "dropped")] == counters
        assert [read_or_errno(r) for _ in records] == records    # nothing dropped: no EPIPE
        assert read_or_errno(r) == "EAGAIN"
    finally:
        os.close(r)
        os.close(w)
