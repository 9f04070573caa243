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
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from util import records_by_writer  # noqa: E402
REPO = os.path.dirname(os.path.dirname(HERE))
KO = os.path.join(REPO, "kmod", "channel.ko")
BUILD = os.environ.get("IPCFS_BUILD", os.path.join(REPO, "build"))
CHANREAD = os.path.join(BUILD, "tests", "vm", "chanread")
RINGCHECK = os.path.join(BUILD, "tests", "vm", "ringcheck")
IPCFS = os.path.join(BUILD, "src", "ipcfs")

CHANNEL_IOC_LOST = (2 << 30) | (8 << 16) | (0xC4 << 8) | 1     # _IOR(0xC4, 1, __u64)
CHANNEL_IOC_UNKNOWN = (2 << 30) | (8 << 16) | (0xC4 << 8) | 9
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
        version, align, head, tail, data_off, data_size, tail_seq, tail_gen = \
            struct.unpack("IIQQQQQQ", ctl[:56])
        assert (version, align, data_off, tail_gen) == (2, 8, 4096, 0)
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


@pytest.mark.params(buf_size=8192)
def test_mmap_reader_from_the_live_end_counts_losses_before_its_first_record(module):
    """A zero-copy reader that starts at the live end and is overrun before it reads
    anything still knows how much it lost: R0 gives it the sequence number with the
    position (taking head from the control page left it unknown)."""
    w = open_chan(module, os.O_WRONLY)
    for i in range(100):                                        # records before it opens
        os.write(w, b"%06d" % i)
    p = subprocess.Popen([CHANREAD, module, "1000000"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "READY\n"
        p.send_signal(signal.SIGSTOP)
        for i in range(100, 3100):                              # far more than 8 KiB holds
            os.write(w, b"%06d" % i)
        p.send_signal(signal.SIGCONT)
        os.write(w, b"END")
        lines = p.stdout.read().splitlines()
        assert p.wait() == 0
        assert lines[0].startswith("OVERRUN")                  # its first 8 KiB were overwritten
        read = [int(x.split()[0]) for x in lines if not x.startswith("OVERRUN")]
        lost = sum(int(x.split()[1]) for x in lines if x.startswith("OVERRUN"))
        assert read[-1] == 3100 and len(read) + lost == 3001   # seq 100 to END, none unaccounted
    finally:
        os.close(w)
        p.kill()
        p.wait()


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
    """With head 8 bytes before the end, too little for a header, a reader at
    head skipped a lap and re-read the oldest record (then payload as headers)."""
    # spans 1024 * 3 + 1016: head at 4088
    assert_live_reader_waits_after(module, [bytes([n % 251]) * n for n in (1008, 1008, 1008, 1000)])


@pytest.mark.params(buf_size=4096)
def test_live_reader_on_a_stale_pad_header_waits(module):
    """Repeating record sizes leave a PAD header from an earlier lap at head's
    offset; a reader at head took it for padding and skipped a lap."""
    # spans of 1040: the 4th wraps, padding at 3120; after the 6th head is there again
    assert_live_reader_waits_after(module, [bytes([i + 1]) * 1024 for i in range(6)])


@pytest.mark.params(buf_size=4096)
def test_faulting_write_changes_nothing(module):
    """A write whose buffer faults had already dropped records and written
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


# ---- The ring's edges: laps, pads, counters ----

def test_mmap_stays_read_only(module):
    """No way to a writable view of the ring: PROT_WRITE, a private writable map,
    mprotect() of a read-only one; and only offset 0 is a mapping."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    fd = open_chan(module, os.O_RDWR)          # so the refusals are the driver's, not the VFS's
    try:
        def mmap_errno(prot, flags, offset):
            addr = libc.mmap(None, 4096, prot, flags, fd, offset)
            if addr == ctypes.c_void_p(-1).value:
                return errno.errorcode[ctypes.get_errno()]
            libc.munmap(ctypes.c_void_p(addr), 4096)
            return "mapped"
        rw = mmap.PROT_READ | mmap.PROT_WRITE
        assert mmap_errno(rw, mmap.MAP_SHARED, 0) == "EPERM"
        assert mmap_errno(rw, mmap.MAP_PRIVATE, 0) == "EPERM"
        assert mmap_errno(mmap.PROT_READ, mmap.MAP_SHARED, 4096) == "EINVAL"
        assert mmap_errno(mmap.PROT_READ, mmap.MAP_PRIVATE, 0) == "mapped"
        for flags in (mmap.MAP_SHARED, mmap.MAP_PRIVATE):
            addr = libc.mmap(None, 4096, mmap.PROT_READ, flags, fd, 0)
            assert addr != ctypes.c_void_p(-1).value
            assert libc.mprotect(ctypes.c_void_p(addr), 4096, rw) == -1
            assert ctypes.get_errno() == errno.EACCES
            libc.munmap(ctypes.c_void_p(addr), 4096)
    finally:
        os.close(fd)


@pytest.mark.params(buf_size=4096)
def test_blocking_reader_gets_epipe_then_the_oldest(module):
    fd = open_chan(module)                                   # blocking
    w = open_chan(module, os.O_WRONLY)
    try:
        for i in range(300):
            os.write(w, b"%08d" % i)
        assert read_or_errno(fd) == "EPIPE"
        n = lost(fd)
        assert os.read(fd, 100) == b"%08d" % n
    finally:
        os.close(fd)
        os.close(w)


def test_several_blocked_readers_all_woken(module):
    code = (f"import os\nfd = os.open({module!r}, os.O_RDONLY)\nprint('OPEN', flush=True)\n"
            "print(os.read(fd, 100).decode(), flush=True)\n")
    ps = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
          for _ in range(5)]
    w = open_chan(module, os.O_WRONLY)
    try:
        for p in ps:
            assert p.stdout.readline() == "OPEN\n"
            wait_blocked(p.pid)
        os.write(w, b"all")
        assert [p.stdout.readline() for p in ps] == ["all\n"] * 5
        assert [p.wait() for p in ps] == [0] * 5
    finally:
        os.close(w)
        for p in ps:
            p.kill()
            p.wait()


def test_lseek_and_ioctl_answer_while_a_read_of_the_same_file_blocks(module):
    """The per-file lock was held while a read slept, so lseek and
    ioctl on the same open file (another thread, or a forked child) waited for a record."""
    fd = open_chan(module)
    child = os.fork()
    if child == 0:                                           # the blocked read, same file
        os.read(fd, 100)
        os._exit(0)
    w = open_chan(module, os.O_WRONLY)
    answered = threading.Event()

    def seek_and_ask():
        os.lseek(fd, 0, os.SEEK_SET)
        os.lseek(fd, 0, os.SEEK_END)
        assert lost(fd) == 0
        with pytest.raises(OSError) as e:
            fcntl.ioctl(fd, CHANNEL_IOC_UNKNOWN, bytearray(8))
        assert e.value.errno == errno.ENOTTY
        answered.set()
    try:
        wait_blocked(child)
        t = threading.Thread(target=seek_and_ask)
        t.start()
        while not answered.is_set() and t.is_alive():
            if sleeps_on_a_channel_lock(f"{os.getpid()}/task/{t.native_id}"):
                os.write(w, b"release")                      # so that the test can end
                t.join()
                pytest.fail("lseek waited for the lock of a read that waits for a record")
            os.sched_yield()
        t.join()
        assert answered.is_set()
        assert "channel_read" in open(f"/proc/{child}/wchan").read()   # still waiting
        os.write(w, b"wake")
        assert os.waitpid(child, 0)[1] == 0
    finally:
        os.close(w)
        os.close(fd)
        try:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


@pytest.mark.params(buf_size=4096)
def test_dropped_sums_every_readers_losses_noticed_or_not(module):
    """`dropped` counted only overruns that a read() noticed."""
    a = os.open(module, os.O_RDONLY | os.O_NONBLOCK)
    b = os.open(module, os.O_RDONLY | os.O_NONBLOCK)
    w = open_chan(module, os.O_WRONLY)
    try:
        for i in range(100):                                 # 24 bytes each: 170 fit
            os.write(w, b"%08d" % i)
        os.read(b, 100)                                      # b has read one
        for i in range(100, 300):
            os.write(w, b"%08d" % i)
        la, lb = lost(a), lost(b)
        assert la == lb + 1 > 0                             # neither has noticed yet
        assert sysfs("dropped") == la + lb
        assert read_or_errno(a) == "EPIPE"                  # noticing changes nothing
        assert (lost(a), sysfs("dropped")) == (la, la + lb)
        os.close(b)                                          # nor does leaving
        b = None
        assert sysfs("dropped") == la + lb
        os.lseek(a, 0, os.SEEK_END)
        assert sysfs("dropped") == la + lb
    finally:
        for fd in (a, b, w):
            if fd is not None:
                os.close(fd)


@pytest.mark.params(buf_size=32 << 20)
def test_records_larger_than_kmalloc_gives(module):
    """A record may be buf_size / 4 bytes: 8 MiB here, beyond kmalloc's largest."""
    fd = open_chan(module, os.O_RDONLY | os.O_NONBLOCK)
    w = open_chan(module, os.O_WRONLY)
    try:
        big = os.urandom(8 << 20)
        assert os.write(w, big) == len(big)
        got = b"".join(iter(lambda: read_or_errno(fd), "EAGAIN"))
        assert got == big
    finally:
        os.close(fd)
        os.close(w)


def test_write_from_memory_that_cannot_be_pinned(module):
    """A write from any readable memory works, including a VM_IO|VM_PFNMAP mapping
    ([vvar]) that get_user_pages cannot pin: a guard for a write path that would copy
    from pinned pages (tried, and not faster: kmod/README.md)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/maps") as f:
        vvar = next(int(line.split("-")[0], 16) for line in f if line.rstrip().endswith("[vvar]"))
    r = os.open(module, os.O_RDONLY | os.O_NONBLOCK)
    w = open_chan(module, os.O_WRONLY)
    try:
        assert libc.write(w, ctypes.c_void_p(vvar), ctypes.c_size_t(64)) == 64
        assert len(os.read(r, 100)) == 64
        assert os.write(w, b"pinned") == 6                       # and the usual way after it
        assert os.read(r, 100) == b"pinned"
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.params(buf_size=1 << 16)
def test_readers_racing_writers_get_whole_records_or_epipe(module):
    """Writers overrun readers of both kinds (read() and the mmap protocol) on a small
    ring: every record a reader gets is whole and in order, and what it does not get
    it is told it lost."""
    writer = ("import os, sys\n"
              "w = os.open(sys.argv[1], os.O_WRONLY)\n"
              "me = int(sys.argv[2])\n"
              "for i in range(3000):\n"
              "    n = 8 + (i * 131 + me * 17) % 3000\n"
              "    os.write(w, bytes([65 + me]) * n)\n")
    reader = ("import os, sys\n"
              "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
              "print('OPEN', flush=True)\n"
              "got = lost = 0\n"
              "while True:\n"
              "    try:\n"
              "        rec = os.read(fd, 1 << 16)\n"
              "    except BrokenPipeError:\n"
              "        continue\n"
              "    if rec == b'END':\n"
              "        break\n"
              "    assert len(set(rec)) == 1, 'torn record'\n"
              "    got += 1\n"
              "import fcntl, struct\n"
              f"buf = bytearray(8); fcntl.ioctl(fd, {CHANNEL_IOC_LOST}, buf)\n"
              "print(got, struct.unpack('Q', buf)[0], flush=True)\n")
    readers = [subprocess.Popen([sys.executable, "-c", reader, module], stdout=subprocess.PIPE,
                                text=True) for _ in range(3)]
    mapped = subprocess.Popen([CHANREAD, module, "100000000"], stdout=subprocess.PIPE, text=True)
    try:
        for p in readers:
            assert p.stdout.readline() == "OPEN\n"
        assert mapped.stdout.readline() == "READY\n"
        ws = [subprocess.Popen([sys.executable, "-c", writer, module, str(k)]) for k in range(3)]
        assert [p.wait() for p in ws] == [0, 0, 0]
        w = open_chan(module, os.O_WRONLY)
        os.write(w, b"END")
        os.close(w)
        total = 3 * 3000
        for p in readers:
            got, n_lost = map(int, p.stdout.read().split())
            assert p.wait() == 0
            assert got + n_lost == total
        lines = mapped.stdout.read().splitlines()
        assert mapped.wait() == 0
        records = [x.split() for x in lines if not x.startswith("OVERRUN")]
        n_lost = sum(int(x.split()[1]) for x in lines if x.startswith("OVERRUN"))
        seqs = [int(r[0]) for r in records]
        assert seqs == sorted(seqs) and seqs[-1] == total          # END is the last record
        assert len(records) + n_lost == total + 1
        for seq, length, byte_sum in records[:-1]:
            assert int(byte_sum) % int(length) == 0                 # one fill byte: whole
    finally:
        for p in readers + [mapped]:
            p.kill()
            p.wait()


@pytest.mark.parametrize("buf_size,seed", [(4096, 1), (4096, 2), (65536, 3), (1 << 20, 4)])
def test_module_and_builtin_ring_agree_op_by_op(buf_size, seed):
    """The same random sequence through channel.ko and src/chan_ring.c (the built-in
    /chan backend), compared at every operation (ringcheck says where they differ)."""
    load(buf_size=buf_size)
    try:
        out = subprocess.run([RINGCHECK, "/dev/channel0", str(seed), "20000"], capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr
        counts = dict(zip(*[iter(out.stdout.split())] * 2))
        for what in ("writes", "reads", "partial", "epipe", "eagain", "pads", "seeks"):
            assert int(counts[what]) > 0, f"the run never covered {what}: {out.stdout}"
    finally:
        unload()


# ---- A caller whose buffer faults for ever holds up nobody else ----

HUNG_CALLER = r"""
import ctypes, mmap, os, sys
mode, fuse_file, chan = sys.argv[1:4]
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
f = os.open(fuse_file, os.O_RDONLY)
# A private map of a FUSE file: its first touch faults into the FUSE daemon.
addr = ctypes.c_void_p(libc.mmap(None, 4096, mmap.PROT_READ | mmap.PROT_WRITE,
                                 mmap.MAP_PRIVATE, f, 0))
# Closed now, while the daemon answers (the map holds the file): a close at exit would
# wait for a FLUSH that no signal ends (FUSE forces it).  (Python's mmap keeps a dup.)
os.close(f)
c = os.open(chan, os.O_WRONLY if mode == "write" else os.O_RDONLY)
print("READY", c, flush=True)
sys.stdin.readline()
n = (libc.write if mode == "write" else libc.read)(c, addr, ctypes.c_size_t(4096))
print("RETURNED", n, flush=True)
"""

OTHERS = r"""
import fcntl, os, select, sys
chan = sys.argv[1]
r = os.open(chan, os.O_RDONLY | os.O_NONBLOCK)
w = os.open(chan, os.O_WRONLY)
for i in range(50):
    os.write(w, b"other %d" % i)
assert [os.read(r, 100) for i in range(50)] == [b"other %d" % i for i in range(50)]
assert select.select([r], [w], [], 0) == ([], [w], [])
os.lseek(r, 0, os.SEEK_SET)
fcntl.ioctl(r, IOC_LOST, bytearray(8))
print("WORKED", flush=True)
""".replace("IOC_LOST", str(CHANNEL_IOC_LOST))


@pytest.fixture
def stalled_fuse_file(tmp_path):
    """A file on a FUSE mount (ipcfs) whose daemon is then stopped: a page fault on a
    mapping of it waits for an answer that never comes.  Yields (path, stop)."""
    import sysv_ipc
    subprocess.run(["modprobe", "fuse"], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    seg = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=4096)
    daemon = subprocess.Popen([IPCFS, "-f", "-o", "chan=builtin", str(mnt)])
    try:
        while not os.path.ismount(mnt):
            assert daemon.poll() is None, "ipcfs did not mount"
            os.sched_yield()
        def stop():
            daemon.send_signal(signal.SIGSTOP)
            tasks = f"/proc/{daemon.pid}/task"
            while not all(state_and_wchan(f"{daemon.pid}/task/{t}")[0] == "T"
                          for t in os.listdir(tasks)):
                os.sched_yield()
        yield f"{mnt}/shm/id-{seg.id}", stop
    finally:
        daemon.send_signal(signal.SIGCONT)
        subprocess.run(["umount", "-l", str(mnt)])
        daemon.wait()
        seg.remove()


def wait_asleep_in_syscall(proc, nr, fd):
    """Until proc sleeps inside system call nr on fd (a page fault in it sleeps where
    the kernel's fault path does: on a folio lock, or in the FUSE request itself)."""
    pid = proc.pid
    while True:
        assert proc.poll() is None, "the call returned: its buffer did not hang"
        with open(f"/proc/{pid}/syscall") as f:
            call = f.read().split()
        if call[:2] == [str(nr), hex(fd)] and state_and_wchan(pid)[0] in "SD":
            return
        os.sched_yield()


def sleeps_on_a_channel_lock(pid):
    """pid sleeps uninterruptibly inside the driver: on a lock (the wait for a record is
    interruptible, state S).  wchan names the driver's function, not the lock's: lock
    functions are scheduler code, which wchan skips.  A task already gone sleeps nowhere
    (a thread that exits between the open and the read of its stat file gives ESRCH)."""
    try:
        state, wchan = state_and_wchan(pid)
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state == "D" and wchan.startswith("channel_")


def state_and_wchan(pid):
    with open(f"/proc/{pid}/stat") as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    with open(f"/proc/{pid}/wchan") as f:
        return state, f.read()


def assert_others_work(path, stuck):
    """Other readers and writers of the channel finish; fail (instead of hanging) the
    moment one of them sleeps on the channel's lock.  Such a process cannot die until
    the lock is free: it goes into stuck, for the caller to reap after the hung one."""
    p = subprocess.Popen([sys.executable, "-c", OTHERS, path], stdout=subprocess.PIPE, text=True)
    while p.poll() is None:
        if sleeps_on_a_channel_lock(p.pid):
            p.kill()
            stuck.append(p)
            pytest.fail(f"another user of the channel waits on its lock: {state_and_wchan(p.pid)}")
        os.sched_yield()
    assert p.returncode == 0 and p.stdout.read() == "WORKED\n"


@pytest.mark.parametrize("mode", ["write", "read"])
def test_a_caller_whose_buffer_never_faults_in_holds_up_nobody(module, stalled_fuse_file, mode):
    fuse_file, stop_daemon = stalled_fuse_file
    hung = subprocess.Popen([sys.executable, "-c", HUNG_CALLER, mode, fuse_file, module],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    w = open_chan(module, os.O_WRONLY)
    stuck = []
    try:
        ready, fd = hung.stdout.readline().split()
        assert ready == "READY"
        os.write(w, b"a record for the hung reader to copy out")
        stop_daemon()
        hung.stdin.write("go\n")
        hung.stdin.flush()
        wait_asleep_in_syscall(hung, 1 if mode == "write" else 0, int(fd))  # faulting
        assert_others_work(module, stuck)
        hung.kill()                                          # and it dies when killed
        assert hung.wait() == -signal.SIGKILL
        assert_others_work(module, stuck)
    finally:
        os.close(w)
        hung.kill()
        hung.wait()
        for p in stuck:
            p.wait()
