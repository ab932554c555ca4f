"""Scale-out: a 2-process gloo run through MMEngine's launcher, and a submitit sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


@pytest.mark.slow
def test_two_gloo_processes_write_one_record_with_the_single_process_schema(tmp_path):
    common = ["--methods", "supervised", "--iters", "2", "--work-dir", str(tmp_path / "work")]
    single = subprocess.run([sys.executable, "-m", "benchmark", "run", *common,
                             "--results-dir", str(tmp_path / "one")], capture_output=True,
                            text=True, env=ENV)
    assert single.returncode == 0, single.stderr[-3000:]
    multi = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                            "-m", "benchmark", "run", *common, "--launcher", "pytorch",
                            "--jobs", "2", "--results-dir", str(tmp_path / "two")],
                           capture_output=True, text=True, env=ENV)
    assert multi.returncode == 0, multi.stderr[-3000:]
    (one,), (two,) = _records(tmp_path / "one"), _records(tmp_path / "two")
    assert set(two) == set(one)
    assert (one["world_size"], one["global_batch"]) == (1, 8)
    assert (two["world_size"], two["global_batch"], two["labeled_batch"]) == (2, 16, 8)
    assert two["config_hash"] != one["config_hash"]  # another global batch, another experiment
    lines = multi.stderr.splitlines()
    assert lines.count("note: --launcher pytorch trains one run at a time over its processes; "
                       "--jobs 2 is ignored") == 1
    assert lines.count("warning: global batch 16 (8 per process x 2 process(es)) at lr 0.05 "
                       "differs from the protocol's reference batch 8 at lr 0.05; results are "
                       "not comparable with reference runs (the record carries global_batch "
                       "and lr)") == 1
    assert sum("record " in line and "mIoU" in line for line in lines) == 1  # rank 0 only
    assert multi.stdout.count("synthetic: mIoU (%) of the final checkpoint") == 1


@pytest.mark.slow
def test_local_executor_sweep_reports_a_failure_and_finishes_the_others(tmp_path):
    results = tmp_path / "results"
    command = [sys.executable, "-m", "benchmark", "run", "--methods", "supervised,meanteacher",
               "--seeds", "0,1", "--iters", "2", "--executor", "local", "--results-dir",
               str(results), "--work-dir", str(tmp_path / "work"),
               # valid before training, fails when MMEngine builds the hook
               "--cfg-options", "meanteacher:custom_hooks=[{'type': 'NoSuchHook'}]"]
    sweep = subprocess.run(command, capture_output=True, text=True, env=ENV)
    assert sweep.returncode == 1, sweep.stderr[-3000:]
    assert sorted((r["method"], r["seed"]) for r in _records(results)) == [
        ("supervised", 0), ("supervised", 1)]
    lines = sweep.stderr.splitlines()
    failed = [line for line in lines if ": failed: " in line]
    assert len(failed) == 2 and all("meanteacher" in line for line in failed)
    for line in failed:
        log = Path(line.split("(traceback: ")[1].split(";")[0])
        assert log.is_file() and "NoSuchHook" in log.read_text()
    assert "sweep: 4/4 finished (2 done, 2 failed)" in lines
    assert "runs: 2 done, 0 skipped, 2 failed or stopped" in lines
    # the same command again: complete runs are skipped, failed ones tried again
    again = subprocess.run(command, capture_output=True, text=True, env=ENV)
    assert again.returncode == 1
    assert sum(line.endswith("record exists, skipped")
               for line in again.stderr.splitlines()) == 2
    assert "runs: 0 done, 2 skipped, 2 failed or stopped" in again.stderr.splitlines()
