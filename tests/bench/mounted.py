# SPDX-License-Identifier: GPL-2.0-only
"""Mount ipcfs (as the tests do), run ipcbench on it, labelled with the /shm mode the daemon chose.

    python3 tests/bench/mounted.py [IPCBENCH ARGS...]

IPCFS_BUILD selects the build, as for the tests.  Prints the mode and passes
--mode to ipcbench; the exit status is ipcbench's, or 1 if the daemon did not
exit cleanly.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import util  # noqa: E402

m = util.Mount(debug=True, options=("allow_other",))
try:
    mode, why = m.shm_mode()
    print(f"# /shm mode: {mode}{' (' + why + ')' if why else ''}", flush=True)
    rc = subprocess.run([os.path.join(util.BUILD, "tests", "bench", "ipcbench"), m.path,
                         "--mode", mode] + sys.argv[1:]).returncode
finally:
    status = m.unmount()
sys.exit(rc or (1 if status else 0))
