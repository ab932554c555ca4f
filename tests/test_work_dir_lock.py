"""One process trains a run: repeated names are planned once, a held work dir is refused.

A second command asking for a run another command is training stops before anything
trains with one line naming the holder (pid, host, start, command); a run whose work dir
is taken after the sweep started is not started and writes nothing into the holder's
folder; the kernel releases the lock when the holder is killed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.runs.work_lock import (
    LOCK_NAME,
    WorkDirBusy,
    check_work_dir_free,
    hold_work_dir,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def work_dir_of_supervised(tmp_path_factory):
    """``(work root, work dir)`` of ``run --methods supervised --iters 2`` (split 1_8, seed 0)."""
    import benchmark.plugins  # noqa: F401
    from benchmark.runs.executor import compose_config
    from benchmark.runs.spec import RunSpec

    root = tmp_path_factory.mktemp("lock") / "work"
    cfg = compose_config(RunSpec("supervised", "synthetic", "1_8", 0, iters=2), root)
    return root, Path(cfg.work_dir)


def _busy_line(work_dir: Path, pid: int) -> re.Pattern:
    return re.compile(
        rf"work dir {re.escape(str(work_dir))} is in use by pid {pid} on host "
        rf"{re.escape(socket.gethostname())} since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
        r"\(`python .+`\): another command is training this run; wait for it to end or stop "
        r"it, then run again \(it resumes from the last checkpoint\)")


def test_the_lock_names_its_holder_and_is_released_after_the_block(tmp_path):
    work_dir = tmp_path / "run__abc"
    with hold_work_dir(work_dir):
        with pytest.raises(WorkDirBusy) as err:  # a second open file: refused
            with hold_work_dir(work_dir):
                pass
        assert _busy_line(work_dir, os.getpid()).fullmatch(str(err.value))
        with pytest.raises(WorkDirBusy):
            check_work_dir_free(work_dir)
    check_work_dir_free(work_dir)  # released
    with hold_work_dir(work_dir):
        pass
    assert [p.name for p in work_dir.iterdir()] == [LOCK_NAME]


def test_a_second_command_stops_before_training_naming_the_holder(work_dir_of_supervised,
                                                                  tmp_path, capsys):
    work_root, work_dir = work_dir_of_supervised
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from benchmark.runs.work_lock import hold_work_dir\n"
         f"with hold_work_dir({str(work_dir)!r}):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(120)\n"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(["run", "--methods", "supervised", "--iters", "2", "--results-dir",
                     str(tmp_path / "results"), "--work-dir", str(work_root)])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1, lines
        assert lines[0].startswith("error: ")
        assert _busy_line(work_dir, holder.pid).fullmatch(
            lines[0].removeprefix("error: ").removesuffix(" (supervised synthetic/1_8 seed 0)"))
        assert lines[0].endswith(" (supervised synthetic/1_8 seed 0)")
        assert not (tmp_path / "results").exists()
        assert [p.name for p in work_dir.iterdir()] == [LOCK_NAME]  # nothing trained
    finally:
        holder.kill()
        holder.wait(timeout=30)
    check_work_dir_free(work_dir)  # the kernel released the killed holder's lock


def test_a_run_whose_work_dir_is_taken_later_is_not_started(work_dir_of_supervised,
                                                            tmp_path):
    from benchmark.runs.executor import compose_config
    from benchmark.runs.spec import RunSpec
    from benchmark.runs.sweep import SweepOptions, attempt_run

    work_root, work_dir = work_dir_of_supervised
    spec = RunSpec("supervised", "synthetic", "1_8", 0, iters=2)
    cfg = compose_config(spec, work_root)
    options = SweepOptions(results_dir=tmp_path / "results", work_root=work_root)
    with hold_work_dir(work_dir):
        outcome = attempt_run(spec, cfg, options, "[1/1] supervised synthetic/1_8 seed 0")
    assert outcome.status == "failed"
    prefix = "[1/1] supervised synthetic/1_8 seed 0: not started: "
    assert outcome.message.startswith(prefix)
    assert _busy_line(work_dir, os.getpid()).fullmatch(outcome.message.removeprefix(prefix))
    assert not (work_dir / "failure.log").exists() and not (tmp_path / "results").exists()


def test_repeated_names_are_planned_once_with_a_note(tmp_path, capsys):
    code = main(["run", "--methods", "supervised,supervised", "--split", "1_8,1_8",
                 "--seeds", "0,0,1", "--iters", "2", "--dry-run", "--results-dir",
                 str(tmp_path / "results"), "--work-dir", str(tmp_path / "work")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert ("note: --methods repeats supervised; --split repeats 1_8; --seeds repeats 0; "
            "each (method, split, seed) is planned once") in out.err.splitlines()
    plan = out.out.strip().splitlines()
    assert plan[0] == "plan: 2 run(s); nothing is trained (--dry-run)"
    assert [line.split("  ")[0] for line in plan[1:3]] == [
        "[1/2] supervised synthetic/1_8 seed 0", "[2/2] supervised synthetic/1_8 seed 1"]
