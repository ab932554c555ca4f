"""Evaluating an average of the weights: both numbers from one training, training unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from benchmark.cli import main

ITERS = 20


def _record(tmp_path, name: str, *options: str) -> dict:
    results = tmp_path / name
    code = main(["run", "--methods", "supervised", "--split", "1_8", "--iters", str(ITERS),
                 "--jobs", "1", "--results-dir", str(results), "--work-dir",
                 str(tmp_path / f"work_{name}"), "--cfg-options", "train_cfg.val_interval=10",
                 *options])
    assert code == 0
    (path,) = (results / "runs").glob("*.json")
    return json.loads(path.read_text())


def _final_weights(record: dict) -> tuple[dict, dict]:
    """(evaluated weights, raw weights) of the run's final checkpoint."""
    (final,) = Path(record["work_dir"]).glob(f"iter_{ITERS}.pth")
    checkpoint = torch.load(final, map_location="cpu", weights_only=False)
    evaluated = checkpoint["state_dict"]
    if "ema_state_dict" not in checkpoint:
        return evaluated, evaluated
    raw = {k[len("module."):]: v for k, v in checkpoint["ema_state_dict"].items()
           if k.startswith("module.")}
    return evaluated, raw


def test_averaging_does_not_change_training_and_both_numbers_are_recorded(tmp_path):
    plain = _record(tmp_path, "plain")
    averaged = _record(tmp_path, "averaged", "eval_weight_average=0.5")

    _, plain_weights = _final_weights(plain)
    evaluated, raw = _final_weights(averaged)
    # the raw weights of the averaged run are exactly the plain run's: training is unchanged
    assert set(raw) == set(plain_weights)
    assert all(torch.equal(raw[k], plain_weights[k]) for k in plain_weights)
    # and the evaluated (checkpointed) network is another one, the average
    float_keys = [k for k, v in raw.items() if v.is_floating_point()]
    assert any(not torch.equal(evaluated[k], raw[k]) for k in float_keys)
    assert [h["iter"] for h in averaged["val_history"]] == [10, 20]
    assert all("raw.mIoU" in h and "mIoU" in h for h in averaged["val_history"])
    assert [h["raw.mIoU"] for h in averaged["val_history"]] == [
        h["mIoU"] for h in plain["val_history"]]
    assert averaged["evaluated_network"] == "student, weight average 0.5"
    assert plain["evaluated_network"] == "student"
    assert averaged["config_hash"] != plain["config_hash"]


def test_a_momentum_of_almost_one_evaluates_the_newest_weights(tmp_path):
    record = _record(tmp_path, "newest", "eval_weight_average=0.9999999")
    evaluated, raw = _final_weights(record)
    for key, value in raw.items():
        if value.is_floating_point():
            torch.testing.assert_close(evaluated[key], value, rtol=1e-5, atol=1e-5)
    assert all(h["mIoU"] == h["raw.mIoU"] for h in record["val_history"])


def test_a_momentum_outside_0_1_is_one_line_before_training(tmp_path, capsys):
    code = main(["run", "--methods", "supervised", "--split", "1_8", "--iters", "2",
                 "--results-dir", str(tmp_path / "r"), "--work-dir", str(tmp_path / "w"),
                 "--cfg-options", "eval_weight_average=1.0"])
    assert code == 2
    assert "eval_weight_average=1.0 is not a momentum in (0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "r" / "runs").exists()


def test_a_killed_run_resumes_to_the_same_average_and_raw_weights(tmp_path):
    import os
    import subprocess

    from tests.test_resume import (
        _command,
        _final_state,
        _interrupt_after_checkpoint,
        _run_dir,
    )
    from tests.test_resume import _record as resume_record

    options = ("eval_weight_average=0.2",)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    done = subprocess.run(_command(reference / "results", reference / "work", options=options),
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results, work = tmp_path / "results", tmp_path / "work"
    _interrupt_after_checkpoint(results, work, options=options)
    again = subprocess.run(_command(results, work, options=options), capture_output=True,
                           text=True, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from iteration 16" in again.stderr
    expected, resumed = resume_record(reference / "results"), resume_record(results)
    assert resumed["val_history"] == expected["val_history"]  # averaged and raw.* alike
    want = _final_state(_run_dir(reference / "work") / "iter_24.pth")
    got = _final_state(_run_dir(work) / "iter_24.pth")
    for part in ("state_dict", "ema_state_dict"):
        assert want[part].keys() == got[part].keys()
        for key, tensor in want[part].items():
            assert torch.equal(tensor, got[part][key]), (part, key)
