# SPDX-License-Identifier: GPL-2.0-only
"""One process of the stress run (stress.py starts them, often as another uid).

    worker.py ROLE CONFIG_JSON

Survivors (sem, msgsend, msgrecv, shm, chanw, chanr, names, threads, attacker, events) work until the
stop file exists, then print one JSON report on stdout and exit 0; any errno
outside ALLOWED fails them (exit 1, the error on stderr).  SIGINT is handled
and ignored, so a survivor's interrupted call is retried (PEP 475): the
daemon sees the INTERRUPT, and a call that had an effect and still said EINTR
would show up as a broken invariant.  Every worker prints "ready" once its SIGINT
disposition is set; stress.py sends no signal before that.

Victims (semvictim, msgvictim, chanvictim, chaosvictim, eventsvictim) block or work until
stress.py kills them.  What a msgvictim reads lands in a MAP_SHARED file the
harness reads afterwards: the kernel's copy of the message is the record, so
a kill cannot lose one.
"""
import errno
import json
import mmap
import os
import random
import select
import signal
import sys
import time

ALLOWED = {errno.ENOENT, errno.EIDRM, errno.EBUSY, errno.ENOSPC, errno.EACCES, errno.EPERM,
           errno.EAGAIN, errno.EINVAL, errno.ENODEV, errno.EFBIG, errno.E2BIG, errno.EMSGSIZE,
           errno.EPIPE, errno.ENODATA, errno.ERANGE, errno.EEXIST, errno.EOPNOTSUPP,
           errno.ESPIPE, errno.ENOTDIR, errno.EISDIR, errno.ENOMSG, errno.ENOBUFS}
MSG_SIZE = 32
STOP = b"STOP".ljust(MSG_SIZE, b".")
WAKE = 0xff     # the fill byte of the records stress.py writes to wake channel readers

cfg = json.loads(sys.argv[2])
role = sys.argv[1]
mnt = cfg["mount"]
rng = random.Random(cfg["seed"])
stats = {"role": role, "ops": 0, "errors": {}, "interrupts": 0}


def stopping():
    return os.path.exists(cfg["stop"])


def on_sigint(sig, frame):
    stats["interrupts"] += 1


def tolerate(fn, *args):
    """fn(*args), or None for an allowed errno (counted); anything else fails the worker."""
    stats["ops"] += 1
    try:
        return fn(*args)
    except OSError as e:
        if e.errno not in ALLOWED:
            raise
        name = errno.errorcode.get(e.errno, str(e.errno))
        stats["errors"][name] = stats["errors"].get(name, 0) + 1
        return None


def p(*parts):
    return os.path.join(mnt, *parts)


def open_flags(base):
    return base | rng.choice([0, 0, os.O_NONBLOCK])


# ---- sem: S_INV's semaphore 0 moves by counted non-undo operations, semaphore 1 only by undo ones

def sem_survivor():
    path = p("sem", cfg["sem_name"])
    delta = 0
    undo_fds = []
    while not stopping():
        r = rng.random()
        if r < 0.5:
            fd = tolerate(os.open, path, open_flags(os.O_RDWR))
            if fd is None:
                continue
            line, d = rng.choice([(b"0:+1\n", 1), (b"0:-1 nowait\n", -1),
                                  (b"0:-1 timeout=0.005\n", -1), (b"+1\n", 1)])
            if tolerate(os.write, fd, line) == len(line):
                delta += d
            os.close(fd)
        elif r < 0.65:
            fd = tolerate(os.open, path, os.O_RDWR)
            if fd is not None:
                tolerate(os.write, fd, b"1:-1 undo nowait\n")
                undo_fds.append(fd)
        elif r < 0.8 and undo_fds:
            os.close(undo_fds.pop(rng.randrange(len(undo_fds))))     # its undo is applied
        else:
            fd = tolerate(os.open, path, os.O_RDONLY)
            if fd is None:
                continue
            tolerate(os.pread, fd, 64, rng.choice([0, 0, 2, 100]))
            tolerate(os.getxattr, path, rng.choice(["user.ipc.ncnt", "user.ipc.pids", "user.ipc.key"]))
            tolerate(os.lseek, fd, rng.randrange(8), os.SEEK_SET)
            tolerate(os.read, fd, 64)
            os.close(fd)
    for fd in undo_fds:
        os.close(fd)
    stats["sem_delta"] = delta


def sem_victim():
    fd = os.open(p("sem", cfg["sem_name"]), os.O_RDWR)
    os.write(fd, b"1:-%d undo nowait\n" % rng.randint(1, 3))
    os.write(fd, b"0:-30000\n")       # never satisfied: blocks until killed


# ---- msg: every message sent through the mount is received once or still queued

def message(wid, seq):
    return (b"%03d-%08d" % (wid, seq)).ljust(MSG_SIZE, b".")


def msg_sender():
    key = cfg["msg_name"]
    seq = 0
    while not stopping():
        kind = rng.choice(["plain", "typed", "framed"])
        body = message(cfg["wid"], seq)
        if kind == "plain":
            path, data = p("msg", key), body                               # type 1
        elif kind == "typed":
            path, data = p("msg", key + "@2"), body                        # type 2
        else:
            path, data = p("msg", key + "@framed"), (3).to_bytes(8, sys.byteorder) + body
        fd = tolerate(os.open, path, open_flags(os.O_WRONLY))
        if fd is None:
            continue
        if tolerate(os.write, fd, data) == len(data):
            seq += 1
        os.close(fd)
    stats["sent"] = seq
    stats["wid"] = cfg["wid"]


def msg_receiver():
    key = cfg["msg_name"]
    got = []
    while True:
        view = rng.choice(["", "@2", "@framed"])
        # A typed read never blocks: receivers all waiting for type 2 while a full queue
        # holds only other types, and senders waiting for room, would be a real deadlock.
        nonblock = view == "@2" or (not stopping() and rng.random() < 0.3)
        flags = os.O_RDONLY | (os.O_NONBLOCK if nonblock else 0)
        fd = tolerate(os.open, p("msg", key + view), flags)
        if fd is None:
            continue
        data = tolerate(os.read, fd, 4096)
        os.close(fd)
        if data is None:
            continue
        if view == "@framed":
            data = data[8:]
        if data == STOP:
            break
        got.append(data.decode())
    stats["got"] = got


def msg_victim():
    fd = os.open(p("msg", cfg["msg_name"]), os.O_RDONLY)
    out = os.open(cfg["catch"], os.O_RDWR)
    slots = os.fstat(out).st_size // 64
    view = memoryview(mmap.mmap(out, slots * 64))
    for i in range(slots):
        os.readv(fd, [view[i * 64:i * 64 + 64]])       # blocks when the queue is empty


# ---- shm: each survivor owns a 4 KiB slot of SHM_INV and reads back what it wrote

def shm_survivor():
    names = [cfg["shm_name"], "id-%d" % cfg["shm_id"]]
    slot = cfg["slot"] * 4096
    pattern = b""
    while not stopping():
        path = p("shm", rng.choice(names))
        fd = tolerate(os.open, path, open_flags(os.O_RDWR))
        if fd is None:
            continue
        pattern = bytes([rng.randrange(1, 256)]) * rng.randrange(1, 4097)
        assert os.pwrite(fd, pattern, slot) == len(pattern)
        back = os.pread(fd, len(pattern), slot)
        assert back == pattern, "slot %d read back other bytes" % cfg["slot"]
        os.fstat(fd)
        tolerate(os.lseek, fd, rng.randrange(1 << 16), rng.choice([os.SEEK_SET, os.SEEK_END]))
        tolerate(os.getxattr, path, "user.ipc.nattch")
        try:
            mmap.mmap(fd, 4096)             # classic mode: ENODEV; passthrough: a real map
        except OSError as e:
            if e.errno not in ALLOWED:
                raise
        os.close(fd)
        stats["ops"] += 1
    stats["slot"] = cfg["slot"]
    stats["pattern"] = pattern.hex()


# ---- chan: records are never torn; overruns are EPIPE

def chan_writer():
    fds = [os.open(p("chan", str(n)), os.O_WRONLY) for n in range(2)]
    while not stopping():
        tolerate(os.write, rng.choice(fds), bytes([cfg["wid"]]) * rng.randrange(1, 2000))
    for fd in fds:
        os.close(fd)


def check_record(rec):
    assert rec and len(set(rec)) == 1, "a torn /chan record: %r" % rec[:32]


def chan_reader():
    records = 0
    while not stopping():
        fd = tolerate(os.open, p("chan", str(rng.randrange(2))), open_flags(os.O_RDONLY))
        if fd is None:
            continue
        for _ in range(rng.randrange(1, 50)):
            if stopping():
                break
            if rng.random() < 0.2:
                select.select([fd], [], [], 0.01)
            rec = tolerate(os.read, fd, 4096)
            if rec:
                check_record(rec)
                records += 1
        os.close(fd)
    stats["records"] = records


def chan_victim():
    fd = os.open(p("chan", str(rng.randrange(2))), os.O_RDONLY)
    while True:
        check_record(os.read(fd, 4096))


# ---- /events: whole JSON lines only, read with and without poll, opens coming and going

EVENT_OPS = {"create", "remove", "set", "attach", "detach", "lost"}


def check_lines(data):
    assert data.endswith(b"\n"), "a read of /events ended within a line: %r" % data[-64:]
    for line in data.splitlines():
        assert json.loads(line)["op"] in EVENT_OPS, line


def events_reader():
    lines = 0
    while not stopping():
        fd = tolerate(os.open, p("events"), open_flags(os.O_RDONLY))
        if fd is None:
            continue
        for _ in range(rng.randrange(1, 50)):
            if stopping():
                break
            # A blocking read only when poll says a line is there: the stop file must be seen.
            if not select.select([fd], [], [], 0.01)[0]:
                continue
            data = tolerate(os.read, fd, rng.choice([100, 4096, 65536]))    # 100: EINVAL at times
            if data:
                check_lines(data)
                lines += data.count(b"\n")
        os.close(fd)
    stats["lines"] = lines


def events_victim():
    fd = os.open(p("events"), os.O_RDONLY)
    while True:
        check_lines(os.read(fd, 65536))


# ---- names and chaos through the mount: garbage names, views, creation, truncation, removal

def garbage_name():
    return rng.choice([
        "0x%08x" % rng.getrandbits(32), "id-%d" % rng.getrandbits(20), str(rng.getrandbits(31)),
        "x" * rng.randrange(1, 255), "0x", "id-", "id--1", "@", "0x1@", "0x1@x", "..x",
        "0x%x@%d" % (rng.getrandbits(16), rng.randrange(-9, 9)), "0x1@framed", "0x1@9.framed",
        "0x%x@99999999999999999999" % rng.getrandbits(16), "\t", "%s%s" % ("0" * 200, "1"),
    ])


def chaos_op():
    kind = rng.choice(["shm", "sem", "msg"])
    path = p(kind, cfg["chaos"][kind])
    r = rng.random()
    if r < 0.2:
        fd = tolerate(os.open, path, os.O_RDWR | os.O_CREAT | rng.choice([0, os.O_TRUNC]), 0o666)
        if fd is not None:
            data = {"shm": b"z" * rng.randrange(1, 9000), "sem": b"+1\n", "msg": b"chaos"}[kind]
            tolerate(os.write, fd, data)
            tolerate(os.read, fd, 100) if kind != "msg" else None
            os.close(fd)
    elif r < 0.35:
        tolerate(os.truncate, path, {"shm": rng.randrange(0, 20000), "sem": rng.randrange(1, 5),
                                     "msg": 0}[kind])
    elif r < 0.45:
        tolerate(os.unlink, path)
    elif r < 0.55:
        tolerate(os.chmod, path, 0o666)
    elif r < 0.75:
        tolerate(os.listdir, p(kind))
        tolerate(os.stat, p(kind, garbage_name()))
    else:
        tolerate(os.listxattr, path)
        tolerate(os.getxattr, path, rng.choice(["user.ipc.id", "user.ipc.qnum", "user.ipc.bogus",
                                                "security.selinux", "user.chan.readers"]))
        tolerate(os.setxattr, path, "user.ipc.qbytes", rng.choice([b"16384", b"-1", b"x", b""]))


def shared_fds_worker():
    """Threads that share open files: concurrent requests on one ipcfs_file, resizes included."""
    import threading
    failures = []
    fds = {}        # kind -> the fd threads use now
    users = {}      # fd -> threads in a call on it
    retired = set()     # replaced fds, closed once no thread uses them
    lock = threading.Lock()

    def take(kind):
        with lock:
            if kind not in fds:
                fd = tolerate(os.open, p(kind, cfg["chaos"][kind]), os.O_RDWR | os.O_CREAT, 0o666)
                if fd is None:
                    return None
                fds[kind] = fd
                users[fd] = 0
            fd = fds[kind]
            users[fd] += 1
            return fd

    def give_back(kind, fd, reopen):
        with lock:
            users[fd] -= 1
            if reopen and fds.get(kind) == fd:
                del fds[kind]       # later calls go to a new open file
                retired.add(fd)
            if fd in retired and users[fd] == 0:
                retired.discard(fd)
                del users[fd]
                os.close(fd)

    def thread_main(seed):
        r = random.Random(seed)
        try:
            while not stopping():
                kind = r.choice(["shm", "sem"])
                fd = take(kind)
                if fd is None:
                    continue
                op = r.random()
                try:
                    if kind == "shm" and op < 0.4:
                        tolerate(os.pwrite, fd, b"t" * r.randrange(1, 5000), r.randrange(0, 8192))
                    elif kind == "shm" and op < 0.7:
                        tolerate(os.pread, fd, 4096, r.randrange(0, 8192))
                    elif kind == "shm":
                        tolerate(os.ftruncate, fd, r.randrange(0, 12000))
                    elif op < 0.5:
                        tolerate(os.write, fd, r.choice([b"+1\n", b"-1 nowait\n", b"0\n"]))
                    elif op < 0.8:
                        tolerate(os.pread, fd, 64, 0)
                    else:
                        tolerate(os.ftruncate, fd, r.randrange(1, 4))
                finally:
                    give_back(kind, fd, r.random() < 0.02)
        except BaseException as e:      # noqa: B902 - reported by the main thread
            failures.append(repr(e))

    threads = [threading.Thread(target=thread_main, args=(rng.getrandbits(32),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for fd in users:
        os.close(fd)
    assert not failures, failures


def names_worker():
    while not stopping():
        chaos_op()


# ---- a hostile user: each attack the daemon bounds (docs/design.md, threat model), small

def attacker():
    """Unfinished /sem lines, user.ipc.attached on a mapped segment, many pollers, typed
    pollers, a stream of @ views and a sparse segment read and grown, in a random order.
    The daemon refuses each beyond its bound; stress.py checks that everyone else's work
    still adds up and that the daemon's peak memory stayed under the bound."""
    counts = stats.setdefault("attacks", {})

    def unfinished_lines():
        fds = [tolerate(os.open, p("sem", cfg["chaos"]["sem"]), os.O_WRONLY | os.O_CREAT, 0o666)
               for _ in range(rng.randrange(1, 17))]
        for fd in filter(None, fds):
            tolerate(os.write, fd, b" " * rng.randrange(1000, 120000))   # no newline: kept
        for fd in filter(None, fds):
            tolerate(os.close, fd)      # the blank last line runs (or fails) at close

    def attached():
        path = p("shm", cfg["shm_name"])
        fd = tolerate(os.open, path, os.O_RDONLY)
        if fd is None:
            return
        try:
            mapping = tolerate(mmap.mmap, fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
            tolerate(os.getxattr, path, "user.ipc.attached")
            if mapping is not None:
                mapping.close()
        finally:
            os.close(fd)

    def pollers(view=""):
        fds = [tolerate(os.open, p("msg", cfg["msg_name"] + view), os.O_RDONLY | os.O_NONBLOCK)
               for _ in range(rng.randrange(16, 400) if not view else rng.randrange(1, 16))]
        poller = select.poll()
        for fd in filter(None, fds):
            poller.register(fd, select.POLLIN)
        poller.poll(0)                  # each registers a poller with the daemon
        for fd in filter(None, fds):
            os.close(fd)

    def typed_pollers():
        pollers("@%d" % rng.randrange(3, 1 << 20))      # types nobody sends: a scan of the queue

    def views():
        for _ in range(rng.randrange(50, 500)):
            tolerate(os.stat, p("msg", cfg["msg_name"] + "@%d" % rng.randrange(3, 1 << 30)))

    def sparse_segment():
        path = p("shm", cfg["attack_shm"])
        fd = tolerate(os.open, path, os.O_RDWR | os.O_CREAT, 0o600)
        if fd is None:
            return
        try:
            size = rng.randrange(16, 257) << 20
            tolerate(os.ftruncate, fd, size)
            tolerate(os.pwrite, fd, b"d" * 4096, rng.randrange(0, size - 4096))
            for offset in range(0, size, 1 << 20):     # all of it: the holes read as zeros
                tolerate(os.pread, fd, 1 << 20, offset)
            tolerate(os.ftruncate, fd, size + (rng.randrange(1, 65) << 20))  # grow: data only
        finally:
            os.close(fd)
        if rng.random() < 0.3:
            tolerate(os.unlink, path)

    attacks = [unfinished_lines, attached, pollers, typed_pollers, views, sparse_segment]
    while not stopping():
        attack = rng.choice(attacks)
        attack()
        counts[attack.__name__] = counts.get(attack.__name__, 0) + 1


def chaos_victim():
    while True:
        chaos_op()


ROLES = {
    "sem": sem_survivor, "semvictim": sem_victim,
    "msgsend": msg_sender, "msgrecv": msg_receiver, "msgvictim": msg_victim,
    "shm": shm_survivor,
    "chanw": chan_writer, "chanr": chan_reader, "chanvictim": chan_victim,
    "names": names_worker, "chaosvictim": chaos_victim, "threads": shared_fds_worker,
    "attacker": attacker, "events": events_reader, "eventsvictim": events_victim,
}

def die_of_sigint(sig, frame):
    """A victim's handled SIGINT: the call it interrupts gets a FUSE INTERRUPT, as with
    any handler, and then the victim ends.  Not by KeyboardInterrupt: Python swallows
    one raised inside a finalizer or callback ("Exception ignored in ..."), and the
    victim would live on."""
    os._exit(128 + signal.SIGINT)


if __name__ == "__main__":
    if cfg["survivor"]:
        signal.signal(signal.SIGINT, on_sigint)
    elif cfg.get("fatal_sigint"):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    else:
        signal.signal(signal.SIGINT, die_of_sigint)
    # Until now a SIGINT met Python's own handler, whose KeyboardInterrupt can be swallowed
    # (in the import system's callbacks, say): stress.py signals no worker before this line.
    print("ready", flush=True)
    ROLES[role]()
    print(json.dumps(stats), flush=True)
