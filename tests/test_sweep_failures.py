"""A failed run whose work dir cannot be written is still one line, and the sweep goes on."""

from __future__ import annotations

import errno
from pathlib import Path

from mmengine.config import Config

from benchmark.runs.spec import RunSpec
from benchmark.runs.sweep import SweepOptions, execute_sweep


def test_a_full_work_disk_keeps_the_traceback_elsewhere_and_the_next_run_starts(
        tmp_path, monkeypatch, capsys):
    started = []

    def failing_run(spec, *args, **kwargs):
        started.append(spec.seed)
        raise RuntimeError(f"boom in seed {spec.seed}")

    original_write = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name == "failure.log":
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_write(self, *args, **kwargs)

    monkeypatch.setattr("benchmark.runs.executor.execute_run", failing_run)
    monkeypatch.setattr(Path, "write_text", full_disk)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    runs = [(RunSpec("supervised", "synthetic", "1_8", seed),
             Config(dict(work_dir=str(tmp_path / "work" / f"run{seed}"))),
             f"[{seed + 1}/2] supervised synthetic/1_8 seed {seed}") for seed in (0, 1)]
    options = SweepOptions(results_dir=tmp_path / "results", work_root=tmp_path / "work")
    outcomes = execute_sweep(runs, options, jobs=1)
    assert started == [0, 1]  # the second run still started
    assert [o.status for o in outcomes] == ["failed", "failed"]
    for seed, outcome in enumerate(outcomes):
        log = tmp_path / "work" / f"run{seed}" / "failure.log"
        (spare,) = (tmp_path / "tmp").glob(f"semiseg-failure-{runs[seed][0].run_id}-*.log")
        assert outcome.message == (
            f"[{seed + 1}/2] supervised synthetic/1_8 seed {seed}: failed: RuntimeError: boom "
            f"in seed {seed} (traceback: {spare}, since {log} cannot be written: No space "
            "left on device)")
        assert "Traceback" in spare.read_text() and f"boom in seed {seed}" in spare.read_text()
        assert not log.exists()
    assert capsys.readouterr().err.splitlines() == [o.message for o in outcomes]
