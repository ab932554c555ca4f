"""Runs trained one after another in one process keep their logs apart."""

from __future__ import annotations

from benchmark.cli import main


def test_each_run_of_a_sequential_sweep_logs_into_its_own_work_dir(tmp_path, capsys):
    work = tmp_path / "work"
    code = main(["run", "--methods", "supervised", "--split", "1_8", "--seeds", "0,1",
                 "--iters", "2", "--jobs", "1", "--results-dir", str(tmp_path / "results"),
                 "--work-dir", str(work)])
    assert code == 0, capsys.readouterr().err
    runs = sorted(p for p in work.iterdir() if p.is_dir())
    assert [p.name.split("__")[3] for p in runs] == ["seed0", "seed1"]
    for run_dir in runs:
        scalars = list(run_dir.glob("*/vis_data/scalars.json"))
        configs = list(run_dir.glob("*/vis_data/config.py"))
        assert len(scalars) == 1 and len(configs) == 1, run_dir  # its own, not the first's
        assert run_dir.name.split("__")[3] in configs[0].read_text()
