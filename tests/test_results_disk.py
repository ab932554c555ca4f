"""Records always have a place: checked before training, kept if writing fails after it."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from benchmark.cli import main

RUN = ["run", "--methods", "supervised", "--iters", "2", "--jobs", "1"]
LABEL = "(supervised synthetic/1_8 seed 0)"


@pytest.fixture(scope="module")
def record_name():
    """The record file name of ``RUN`` (its config hash does not depend on the folders)."""
    import benchmark.plugins  # noqa: F401
    from benchmark.runs.config_builder import config_hash
    from benchmark.runs.executor import compose_config
    from benchmark.runs.spec import RunSpec

    spec = RunSpec("supervised", "synthetic", "1_8", 0, iters=2)
    return f"{spec.run_id}__{config_hash(compose_config(spec, Path('unused')))[:8]}.json"


def _run(capsys, tmp_path, *extra):
    code = main([*RUN, "--results-dir", str(tmp_path / "results"), "--work-dir",
                 str(tmp_path / "work"), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err.strip().splitlines()


def test_a_record_path_taken_by_a_folder_stops_before_training(tmp_path, capsys, record_name):
    taken = tmp_path / "results" / "runs" / record_name
    taken.mkdir(parents=True)
    code, _, lines = _run(capsys, tmp_path)
    assert code == 2
    assert lines == [f"error: record path {taken} is a folder; remove it or pass another "
                     f"--results-dir {LABEL}"]
    assert not (tmp_path / "work").exists()


def test_a_symlink_loop_as_runs_folder_stops_before_training(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "runs").symlink_to(results / "runs")
    code, _, lines = _run(capsys, tmp_path)
    assert code == 2
    assert lines == [f"error: --results-dir {results}: runs/ is a link that cannot be followed "
                     "(Too many levels of symbolic links); records go into the folder runs/: "
                     f"remove {results / 'runs'} or pass another --results-dir"]
    assert not (tmp_path / "work").exists()


def test_a_full_results_disk_stops_before_training(tmp_path, capsys, monkeypatch):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: real(path)._replace(free=3 * 2**20))
    code, _, lines = _run(capsys, tmp_path)
    assert code == 2
    assert lines == [f"error: --results-dir {tmp_path / 'results'} has 3.0 MiB free on its "
                     "disk; records and leaderboards need at least 16 MiB: free some space or "
                     "pass another --results-dir"]
    assert not (tmp_path / "work").exists()


def test_a_record_that_cannot_be_written_is_kept_and_moved_by_the_next_command(
        tmp_path, capsys, monkeypatch, record_name):
    from benchmark.runs.record import RunRecord
    from tests.reporting_records import make_record

    results = tmp_path / "results"
    earlier = make_record("fixmatch", "1_8", 0, 50.0).save(results)  # a leaderboard to write
    original = RunRecord.save

    def full_results_disk(self, folder):
        if Path(folder) == results:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, folder)

    monkeypatch.setattr(RunRecord, "save", full_results_disk)
    monkeypatch.setattr("benchmark.runs.leaderboard.write_text_atomic",
                        lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left "
                                                                               "on device")))
    code, out, lines = _run(capsys, tmp_path)
    (work_dir,) = (tmp_path / "work").iterdir()
    kept = work_dir / "unsaved-record" / "runs" / record_name
    assert code == 1 and kept.is_file()
    assert any(line.endswith(
        f"failed: RecordNotSaved: record not written to {results / 'runs'} (No space left on "
        f"device); kept at {kept}: the next `run` with --results-dir {results} moves it there "
        f"(traceback: {work_dir / 'failure.log'}; MMEngine log under {work_dir}/)")
        for line in lines), lines
    assert (f"warning: leaderboard files not written to {results} (No space left on device); "
            "`python -m benchmark table` writes them once there is room") in lines
    assert "runs: 0 done, 0 skipped, 1 failed or stopped" in lines  # the summary is printed
    assert "fixmatch" in out  # the leaderboard is still printed
    monkeypatch.undo()
    code, _, lines = _run(capsys, tmp_path, "--skip-done")
    assert code == 0, lines
    assert f"record {record_name} recovered from {kept}" in lines
    assert "[1/1] supervised synthetic/1_8 seed 0: record exists, skipped" in lines
    assert json.loads((results / "runs" / record_name).read_text())["method"] == "supervised"
    assert not kept.exists()
    assert sorted(os.listdir(results / "runs")) == sorted([record_name, earlier.name])
