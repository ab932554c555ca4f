"""Side-by-side workers end with the sweep that started them (no orphaned training)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A module the spawned worker can import: it arms end_with_parent, reports its pid and
# then works for a minute (a long training run).
WORKER = '''
import os, time
from benchmark.runs.side_by_side import end_with_parent

def work(pid_file, arm):
    if arm:
        end_with_parent()
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)
'''

# The sweep's process: one spawned worker, as benchmark.runs.side_by_side starts them.
PARENT = '''
import multiprocessing, sys, time
sys.path.insert(0, sys.argv[1])
import orphan_worker
if __name__ == "__main__":
    multiprocessing.get_context("spawn").Process(
        target=orphan_worker.work, args=(sys.argv[2], sys.argv[3] == "1")).start()
    time.sleep(120)
'''


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _worker_after_parent_killed(tmp_path: Path, arm: bool) -> bool:
    """Start parent + worker, SIGKILL the parent; whether the worker is alive 10 s later."""
    (tmp_path / "orphan_worker.py").write_text(textwrap.dedent(WORKER))
    pid_file = tmp_path / "worker.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), str(pid_file),
                               "1" if arm else "0"], cwd=REPO)
    worker = None
    try:
        deadline = time.monotonic() + 120
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        worker = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        return _alive(worker)
    finally:
        parent.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_worker_ends_when_the_sweep_process_is_killed(tmp_path):
    assert not _worker_after_parent_killed(tmp_path, arm=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_without_it_the_worker_would_outlive_the_sweep(tmp_path):
    """The control: the standard library alone leaves the worker running."""
    assert _worker_after_parent_killed(tmp_path, arm=False)
