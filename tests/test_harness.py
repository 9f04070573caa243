# SPDX-License-Identifier: GPL-2.0-only
"""The test harness itself: a hang fails its test instead of stalling the run."""
import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_test_has_a_timeout(request):
    # getini raises ValueError for an option no plugin declares: pytest-timeout is loaded.
    assert int(request.config.getini("timeout")) > 0
    assert request.config.getini("timeout_method") == "thread"


def test_a_wait_whose_event_never_comes_fails(tmp_path):
    (tmp_path / "test_never.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.join(REPO, 'tests')!r})
        import util

        def test_never():
            util.wait_until(lambda: False)
    """))
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                          "-c", os.path.join(REPO, "pytest.ini"), "-o", "timeout=2",
                          str(tmp_path / "test_never.py")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode != 0, run.stdout
    assert "Timeout" in run.stdout + run.stderr, run.stdout + run.stderr
    assert "wait_until" in run.stdout + run.stderr   # the stuck thread's stack is shown
