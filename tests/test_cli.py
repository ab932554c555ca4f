"""End-to-end CLI behaviour: runs, records, leaderboards, error exits, external plugins."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import num_classes

REQUIRED_RECORD_FIELDS = {
    "protocol", "split", "method", "seed", "config_hash", "git_commit", "versions",
    "iterations", "labeled_batch", "unlabeled_batch", "evaluated_network", "miou",
    "per_class_iou", "best_miou", "wall_time_s", "seconds_per_iter", "peak_memory_mb",
}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_help_lists_commands():
    result = cli("--help")
    assert result.returncode == 0
    for command in ("run", "list", "table", "perf", "env"):
        assert command in result.stdout


def test_list_shows_methods_and_protocols():
    result = cli("list", "--verbose")
    assert result.returncode == 0, result.stderr
    assert "meanteacher" in result.stdout and "supervised" in result.stdout
    assert "consistency_weight=100.0" in result.stdout
    assert "pascal_classic" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "--methods", "nosuch", "--split", "1_8"], "unknown method 'nosuch'; valid methods:"),
    (["run", "--methods", "supervised", "--split", "1_3"], "unknown split '1_3'"),
    (["run", "--methods", "supervised", "--split", "1_"], "ambiguous split '1_'"),
    (["run", "--methods", "supervised", "--protocol", "nope"], "unknown protocol 'nope'"),
    (["run", "--methods", "meanteacher", "--split", "full"],
     "split 'full' has no unlabeled images"),
    (["table", "--results-dir", "/nonexistent"], "no run records"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    run_args = ["--iters", "1", "--results-dir", str(tmp_path)] if args[0] == "run" else []
    result = cli(*args, *run_args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    if "unknown method" in message:
        assert "meanteacher" in lines[0] and "supervised" in lines[0]


def test_missing_dataset_exits_2(tmp_path):
    import os

    env = {**os.environ, "SEMISEG_PASCAL_ROOT": str(tmp_path / "missing")}
    result = subprocess.run([sys.executable, "-m", "benchmark", "run", "--methods", "supervised",
                             "--protocol", "pascal", "--split", "1_8", "--iters", "1",
                             "--results-dir", str(tmp_path)], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 2
    assert "SEMISEG_PASCAL_ROOT" in result.stderr.strip().splitlines()[-1]


def test_two_iteration_run_writes_complete_records_and_leaderboard(tmp_path):
    results = tmp_path / "results"
    result = cli("run", "--methods", "supervised,meanteacher", "--split", "1_8", "--seeds", "0",
                 "--iters", "2", "--results-dir", str(results), "--work-dir",
                 str(tmp_path / "work"))
    assert result.returncode == 0, result.stderr[-3000:]
    records = sorted((results / "runs").glob("*.json"))
    assert len(records) == 2
    for path in records:
        record = json.loads(path.read_text())
        assert REQUIRED_RECORD_FIELDS <= set(record)
        assert record["iterations"] == 2 and record["protocol"] == "synthetic"
        assert 0.0 <= record["miou"] <= 100.0
        assert len(record["per_class_iou"]) == num_classes()
        assert record["config_hash"] and record["git_commit"]
        # the backbone came from the built-in pretrained checkpoint, named by its checksum
        assert record["pretrained"]["source"] == "generated"
        checkpoint = Path(record["pretrained"]["checkpoint"])
        assert record["pretrained"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    by_method = {json.loads(p.read_text())["method"]: json.loads(p.read_text()) for p in records}
    assert by_method["supervised"]["unlabeled_batch"] == 0
    # supervised-only gets the semi-supervised methods' labeled batch (8 + 8 for them)
    assert by_method["supervised"]["labeled_batch"] == by_method["meanteacher"]["labeled_batch"]
    assert by_method["supervised"]["labeled_batch"] == 8
    assert by_method["meanteacher"]["evaluated_network"] == "teacher"
    assert by_method["supervised"]["ema"] is None
    assert by_method["meanteacher"]["ema"]["warmup"] == "min(1 - 1/(t+1), w)"
    assert (results / "leaderboard_synthetic.md").is_file()
    csv = (results / "leaderboard_synthetic.csv").read_text()
    assert "meanteacher" in csv and "1_8" in csv
    assert "meanteacher" in result.stdout

    table = cli("table", "--results-dir", str(results))
    assert table.returncode == 0 and "supervised" in table.stdout

    # the stored config hash is the one a new run computes: --skip-done finds the record
    again = cli("run", "--methods", "supervised", "--split", "1_8", "--seeds", "0",
                "--iters", "2", "--skip-done", "--results-dir", str(results), "--work-dir",
                str(tmp_path / "work"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "record exists, skipped" in again.stderr
    assert len(list((results / "runs").glob("*.json"))) == 2


TOY_PLUGIN = '''
"""A toy method defined outside the package."""
import torch
from benchmark.models import SemiSegmentor
from benchmark.registry import register_method

@register_method("toy_entropy", description="toy: entropy minimisation on weak views",
                 paper="none", config=__file__.replace(".py", "_config.py"))
class ToyEntropy(SemiSegmentor):
    def __init__(self, weight: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def compute_losses(self, batch):
        raw = self.raw_logits(self.student, batch.labeled)
        losses = self.supervised_loss(self.student, raw, batch.labeled_samples)
        probs = self.logits(self.student, batch.unlabeled.weak).softmax(1)
        entropy = -(probs * probs.clamp_min(1e-8).log()).sum(1).mean()
        losses["unsup.loss_entropy"] = self.weight * entropy
        return losses

@register_method("toy_nan", description="toy: returns a NaN loss", paper="none",
                 config=__file__.replace(".py", "_nan_config.py"))
class ToyNaN(ToyEntropy):
    def compute_losses(self, batch):
        losses = super().compute_losses(batch)
        losses["unsup.loss_entropy"] = losses["unsup.loss_entropy"] * float("nan")
        return losses

@register_method("toy_badkey", description="toy: a loss key without 'loss'", paper="none",
                 config=__file__.replace(".py", "_badkey_config.py"))
class ToyBadKey(ToyEntropy):
    def compute_losses(self, batch):
        losses = super().compute_losses(batch)
        losses["unsup.entropy"] = losses.pop("unsup.loss_entropy")
        return losses
'''


@pytest.fixture()
def toy_plugin(tmp_path) -> Path:
    plugin = tmp_path / "toy_method.py"
    plugin.write_text(textwrap.dedent(TOY_PLUGIN))
    (tmp_path / "toy_method_config.py").write_text(
        "model = dict(type='ToyEntropy', weight=0.25)\n"
        "train_dataloader = dict(dataset=dict(num_strong_views=0, mix_batch=False))\n")
    (tmp_path / "toy_method_nan_config.py").write_text("model = dict(type='ToyNaN')\n")
    (tmp_path / "toy_method_badkey_config.py").write_text("model = dict(type='ToyBadKey')\n")
    return plugin


def test_external_plugin_runs_through_registry_and_runner(toy_plugin, tmp_path):
    listed = cli("list", "--plugins", str(toy_plugin))
    assert listed.returncode == 0, listed.stderr
    assert "toy_entropy" in listed.stdout
    results = tmp_path / "results"
    result = cli("run", "--methods", "toy_entropy", "--plugins", str(toy_plugin), "--iters", "2",
                 "--results-dir", str(results), "--work-dir", str(tmp_path / "work"))
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert record["method"] == "toy_entropy"


def test_config_building_another_class_is_rejected(toy_plugin, tmp_path):
    (tmp_path / "toy_method_nan_config.py").write_text("model = dict(type='ToyEntropy')\n")
    result = cli("run", "--methods", "toy_nan", "--plugins", str(toy_plugin), "--iters", "1",
                 "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 2
    assert "builds 'ToyEntropy' but method 'toy_nan' is class 'ToyNaN'" in result.stderr


def test_nan_loss_stops_that_run_and_keeps_finished_results(toy_plugin, tmp_path):
    results = tmp_path / "results"
    result = cli("run", "--methods", "supervised,toy_nan", "--plugins", str(toy_plugin),
                 "--iters", "2", "--results-dir", str(results), "--work-dir",
                 str(tmp_path / "work"))
    assert result.returncode == 1
    assert "loss became nan at iteration 1" in result.stderr
    assert "lower the learning rate" in result.stderr
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert [r["method"] for r in records] == ["supervised"]


def test_failing_run_is_reported_and_the_others_and_the_leaderboard_survive(toy_plugin,
                                                                          tmp_path):
    results = tmp_path / "results"
    result = cli("run", "--methods", "toy_badkey,supervised", "--plugins", str(toy_plugin),
                 "--iters", "2", "--results-dir", str(results), "--work-dir",
                 str(tmp_path / "work"))
    assert result.returncode == 1
    assert ("failed: ValueError: ToyBadKey returned the key 'unsup.entropy'; method outputs "
            "must be named 'sup.loss_*' or 'unsup.loss_*'") in result.stderr
    (failure_log,) = (tmp_path / "work").glob("synthetic__1_8__toy_badkey__seed0__*/failure.log")
    assert "Traceback" in failure_log.read_text()
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert [r["method"] for r in records] == ["supervised"]
    assert "supervised" in result.stdout  # the leaderboard is still printed


def test_side_by_side_runs_load_plugins_report_failures_and_write_records(toy_plugin, tmp_path):
    results = tmp_path / "results"
    result = cli("run", "--methods", "toy_badkey,supervised,toy_entropy", "--plugins",
                 str(toy_plugin), "--iters", "2", "--jobs", "2", "--results-dir", str(results),
                 "--work-dir", str(tmp_path / "work"))
    assert result.returncode == 1
    assert "training 3 runs, 2 at a time" in result.stderr
    assert ("toy_badkey synthetic/1_8 seed 0: failed: ValueError: ToyBadKey returned"
            in result.stderr)
    assert "\r" not in result.stderr  # full progress lines: two runs share the console
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert sorted(r["method"] for r in records) == ["supervised", "toy_entropy"]
    assert "toy_entropy" in result.stdout and "supervised" in result.stdout


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_jobs_must_be_auto_or_positive(tmp_path, jobs):
    result = cli("run", "--methods", "supervised", "--jobs", jobs, "--results-dir",
                 str(tmp_path / "results"))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: --jobs must be 'auto' or a positive integer, "
                                     f"got '{jobs}'")


@pytest.mark.parametrize(("cores", "runs", "cuda", "jobs"),
                         [(2, 2, False, 2), (2, 1, False, 1), (2, 39, False, 2),
                          (64, 39, False, 8), (8, 39, True, 1)])
def test_auto_jobs_is_one_per_core_on_cpu_and_one_on_cuda(monkeypatch, cores, runs, cuda, jobs):
    import torch

    from benchmark.runs import sweep

    monkeypatch.setattr(sweep, "available_cores", lambda: cores)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert sweep.resolve_jobs("auto", runs) == jobs
    assert sweep.resolve_jobs("3", runs) == 3


@pytest.mark.parametrize(("cores", "jobs", "threads"), [(2, 2, 1), (2, 1, 2), (8, 3, 2), (2, 4, 1)])
def test_side_by_side_runs_share_the_cores(monkeypatch, cores, jobs, threads):
    from benchmark.runs import sweep

    monkeypatch.setattr(sweep, "available_cores", lambda: cores)
    assert sweep.threads_per_run(jobs) == threads
