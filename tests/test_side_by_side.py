"""The side-by-side supervisor: results in the order tasks end, dead workers reported, and an
interruption ends every process it started, including what those forked."""

from __future__ import annotations

import operator
import os
import subprocess
import time
from pathlib import Path

import pytest

from benchmark.runs.side_by_side import WorkerEnded, run_side_by_side


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_results_come_as_tasks_end_and_a_dead_worker_is_one_outcome():
    ended = []
    run_side_by_side([(time.sleep, (1.5,)), (os._exit, (3,)), (operator.add, (1, 2)),
                      (os.getpgid, (0,))], jobs=2, on_end=lambda i, r: ended.append((i, r)))
    by_task = dict(ended)
    assert by_task[0] is None and by_task[1] == WorkerEnded(3) and by_task[2] == 3
    assert by_task[3] != os.getpgid(0)  # each worker leads its own process group
    assert [i for i, _ in ended].index(0) > [i for i, _ in ended].index(1)  # in order of ending
    assert str(WorkerEnded(-9)) == "killed by SIGKILL"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_an_interruption_ends_the_workers_and_what_they_forked(tmp_path):
    """The grandchild ignores SIGTERM (as a busy loader may): SIGKILL of the group ends it."""
    pid_file = tmp_path / "grandchild.pid"
    script = f"trap '' TERM; echo $$ > {pid_file}; sleep 60; sleep 60"

    def interrupt(index, result):
        while not (pid_file.exists() and pid_file.read_text().strip()):
            time.sleep(0.05)
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_side_by_side([(operator.add, (1, 2)), (subprocess.call, (["sh", "-c", script],))],
                         jobs=2, on_end=interrupt, grace_seconds=0.5)
    assert time.monotonic() - started < 30
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild), "a process forked by a worker outlived the interruption"
