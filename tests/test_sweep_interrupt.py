"""One Ctrl-C ends a side-by-side sweep within seconds, even if its workers ignore it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from benchmark.runs.work_lock import check_work_dir_free

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Supervised-only, in workers that ignore SIGINT and SIGTERM (as a run busy in library code
# may), so only SIGKILL ends them and the loader processes they fork.
STUBBORN = '''
import multiprocessing
import signal

from benchmark.registry import register_method
from methods.supervised import SupervisedOnly

if multiprocessing.parent_process() is not None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@register_method("stubborn", description="supervised, ignores SIGINT in workers",
                 paper="none", needs_unlabeled=False)
class Stubborn(SupervisedOnly):
    pass
'''

# A shell or harness that starts pytest in the background hands it SIGINT ignored, and
# Python then never installs its Ctrl-C handler: the sweep would not see the test's SIGINT
# (the full-suite hang). A terminal's foreground command has the default, so restore it.
INTERRUPTIBLE = ("import runpy, signal, sys; signal.signal(signal.SIGINT, "
                 "signal.default_int_handler); signal.pthread_sigmask(signal.SIG_UNBLOCK, "
                 "{signal.SIGINT}); "
                 "runpy.run_module('benchmark', run_name='__main__', alter_sys=True)")

SETTLE_SECONDS = 5  # e.g. the resource tracker, which ends once the sweep's pipes close
TRAIN_START_SECONDS = 600


def _session_alive(sid: int) -> list[str]:
    """Processes of session ``sid`` that still run (zombies waiting for a reaper ended)."""
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            alive.append(f"{entry.name} {(entry / 'cmdline').read_bytes()[:120]!r}")
    return alive


class _Lines:
    """The sweep's stderr, read by a thread (the test never blocks on a silent sweep)."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.lines.append("")  # end of output
            self.changed.notify_all()

    def wait_for(self, done, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: done(self.lines), timeout)


def _both_train(lines: list[str]) -> bool:
    return "" in lines or sum("iter " in s and "/3000 loss" in s for s in lines) >= 2


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_one_ctrl_c_ends_a_jobs_2_sweep_promptly(tmp_path):
    plugin = tmp_path / "stubborn.py"
    plugin.write_text(textwrap.dedent(STUBBORN))
    (tmp_path / "stubborn_config.py").write_text(
        "model = dict(type='Stubborn')\n"
        "train_dataloader = dict(dataset=dict(labeled_only=True))\n")
    sweep = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE, "run", "--methods", "stubborn", "--plugins",
         str(plugin), "--seeds", "0,1", "--jobs", "2", "--iters", "3000", "--results-dir",
         str(tmp_path / "results"), "--work-dir", str(tmp_path / "work")],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        err = _Lines(sweep.stderr)
        assert err.wait_for(_both_train, TRAIN_START_SECONDS), "the runs did not start"
        assert sweep.poll() is None, "".join(err.lines)[-3000:]
        interrupted = time.monotonic()
        os.killpg(sweep.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's foreground group
        sweep.wait(timeout=60)
        took = time.monotonic() - interrupted
        assert err.wait_for(lambda lines: "" in lines, 10), "a process kept the console open"
        deadline = time.monotonic() + SETTLE_SECONDS
        while _session_alive(sweep.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = _session_alive(sweep.pid)
    finally:
        for pid in (int(p.split()[0]) for p in _session_alive(sweep.pid)):
            os.kill(pid, signal.SIGKILL)
    text = "".join(err.lines)
    print(f"the sweep ended {took:.1f} s after Ctrl-C")
    # 2 s of grace before SIGKILL, plus the exit; a few seconds more on a loaded machine
    assert took < 10, f"the sweep took {took:.1f} s to end after Ctrl-C"
    assert sweep.returncode == 130, text[-3000:]
    assert text.strip().splitlines()[-1] == (
        "interrupted; finished runs are kept in the results directory")
    assert "Traceback" not in text
    assert not survivors, f"outlived the sweep: {survivors}"
    work_dirs = list((tmp_path / "work").iterdir())
    assert len(work_dirs) == 2
    for work_dir in work_dirs:
        check_work_dir_free(work_dir)  # raises WorkDirBusy if any process still holds it
    assert not list((tmp_path / "results").glob("runs/*.json"))
