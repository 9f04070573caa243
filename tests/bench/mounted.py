# SPDX-License-Identifier: GPL-2.0-only
"""Mount ipcfs (as the tests do) and run a benchmark program on it.

    python3 tests/bench/mounted.py [-o OPTIONS] [--timeout SECONDS] PROGRAM ARGS...

Every "{mnt}" in ARGS becomes the mount point, and "{mode}" the /shm mode the
daemon chose (classic or passthrough), which is also printed.  IPCFS_BUILD
selects the build, as for the tests; PROGRAM is relative to it.  The exit
status is the program's, or 1 if the daemon did not exit cleanly.

--timeout: a program still running then is killed, and so is the daemon,
whose requests may be hung for good (over io_uring, libfuse 3.18.3 can lose a
reply and then stall a ring: docs/performance.md); the exit status is 124.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import util  # noqa: E402

args = sys.argv[1:]
options = ["allow_other"]
timeout = None
while args[:1] in (["-o"], ["--timeout"]):
    if args[0] == "-o":
        options += args[1].split(",")
    else:
        timeout = float(args[1])
    args = args[2:]
# The daemon names its /shm mode only in its debug log, and -d would slow every
# request it serves (a log line per request and reply): learn the mode from a
# short debug mount, then measure on a mount without it.
probe = util.Mount(debug=True, options=options)
try:
    mode, why = probe.shm_mode()
finally:
    probe_status = probe.unmount()
if probe_status:
    sys.exit(1)
print(f"# /shm mode: {mode}{' (' + why + ')' if why else ''}", flush=True)
m = util.Mount(options=options)
try:
    program = os.path.join(util.BUILD, args[0])
    rest = [a.replace("{mnt}", m.path).replace("{mode}", mode) for a in args[1:]]
    bench = subprocess.Popen([program] + rest)
    try:
        rc = bench.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"# {args[0]} did not finish in {timeout:g} s: the daemon is killed", flush=True)
        # The daemon first: a caller whose request the daemon has is not ended even by
        # SIGKILL until it is answered, and a dead daemon's connection answers every one.
        m.proc.kill()
        bench.kill()
        bench.wait()
        rc = 124
finally:
    status = m.unmount()
sys.exit(rc or (1 if status else 0))
