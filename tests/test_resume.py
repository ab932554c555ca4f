"""Resuming an interrupted run: same final record as an uninterrupted one (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

RUN = ["run", "--methods", "meanteacher", "--split", "1_8", "--iters", "24", "--jobs", "1",
       "--cfg-options", "resume_interval=8", "train_cfg.val_interval=6"]


IN_MAIN_PROCESS = ("train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False")


def _command(results: Path, work: Path, *extra: str, options: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "benchmark", *RUN, *options, "--results-dir", str(results),
            "--work-dir", str(work), *extra]


def _record(results: Path) -> dict:
    (path,) = (results / "runs").glob("*.json")
    return json.loads(path.read_text())


def _run_dir(work: Path) -> Path:
    (run_dir,) = work.iterdir()
    return run_dir


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[dict, Path]:
    """The record and final checkpoint of the run trained in one go."""
    root = tmp_path_factory.mktemp("uninterrupted")
    done = subprocess.run(_command(root / "results", root / "work"), capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return _record(root / "results"), _run_dir(root / "work") / "iter_24.pth"


def _final_state(checkpoint: Path) -> dict:
    from benchmark.engine.resume import CHECKPOINT_GLOBALS

    with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
        return torch.load(checkpoint)


def _interrupt_after_checkpoint(results: Path, work: Path, iteration: int = 16,
                                options: tuple[str, ...] = ()) -> Path:
    """Start the run, SIGKILL it (and its loader workers) once ``iter_<iteration>.pth`` exists."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(_command(results, work, options=options), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        links = list(work.glob("*/last_checkpoint")) if work.is_dir() else []
        if links and links[0].read_text().strip().endswith(f"iter_{iteration}.pth"):
            break  # the link moves only once the checkpoint is complete
        time.sleep(0.05)
    assert first.poll() is None, "the run ended before it could be interrupted"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not (results / "runs").exists()
    (checkpoint,) = work.glob(f"*/iter_{iteration}.pth")
    return checkpoint


@pytest.mark.parametrize("options", [(), IN_MAIN_PROCESS], ids=["one_worker", "no_worker"])
def test_killed_run_resumes_to_the_same_record_and_weights(uninterrupted, tmp_path, options):
    """Also with loading in the training process: the reference trained with one worker, so
    this checks worker independence and exact resume at once."""
    uninterrupted, reference_checkpoint = uninterrupted
    results, work = tmp_path / "results", tmp_path / "work"
    _interrupt_after_checkpoint(results, work, options=options)
    second = subprocess.run(_command(results, work, options=options), capture_output=True,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming from iteration 16" in second.stderr
    resumed = _record(results)
    assert resumed["resumed_from"] == 16 and uninterrupted["resumed_from"] == 0
    assert resumed["miou"] == pytest.approx(uninterrupted["miou"], abs=1e-6)
    assert resumed["per_class_iou"] == pytest.approx(uninterrupted["per_class_iou"], abs=1e-6)
    assert [h["iter"] for h in resumed["val_history"]] == [6, 12, 18, 24]
    assert ([h["mIoU"] for h in resumed["val_history"]]
            == pytest.approx([h["mIoU"] for h in uninterrupted["val_history"]], abs=1e-6))
    assert resumed["config_hash"] == uninterrupted["config_hash"]
    run_dir = _run_dir(work)
    assert sorted(p.name for p in run_dir.glob("*.pth")) == ["iter_24.pth"]  # resume one gone
    # student, EMA teacher and optimiser state end identical, not just the metric
    expected, final = _final_state(reference_checkpoint), _final_state(run_dir / "iter_24.pth")
    assert expected["state_dict"].keys() == final["state_dict"].keys()
    assert any(k.startswith("teacher.") for k in final["state_dict"])
    for key, tensor in expected["state_dict"].items():
        assert torch.equal(tensor, final["state_dict"][key]), key
    momentum = [s["momentum_buffer"] for s in final["optimizer"]["state"].values()]
    reference = [s["momentum_buffer"] for s in expected["optimizer"]["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(momentum, reference))


def test_restart_trains_from_zero_and_checkpoints_need_the_allow_list(tmp_path):
    from benchmark.engine.resume import CHECKPOINT_GLOBALS

    results, work = tmp_path / "results", tmp_path / "work"
    checkpoint = _interrupt_after_checkpoint(results, work)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(checkpoint)  # torch's default stays on: no global weights_only=False
    with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
        state = torch.load(checkpoint)
    assert state["meta"]["iter"] == 16 and "random_state" in state and "run_progress" in state
    again = subprocess.run(_command(results, work, "--restart"), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "--restart: ignoring the checkpoint at iteration 16" in again.stderr
    assert _record(results)["resumed_from"] == 0


def test_a_kill_during_the_final_validation_only_evaluates_on_rerun(uninterrupted, tmp_path):
    """The checkpoint of the last iteration is written before the final validation: a run
    killed there is evaluated from it, not trained again, and gives the same record."""
    import re

    uninterrupted, _ = uninterrupted
    results, work = tmp_path / "results", tmp_path / "work"
    final = _interrupt_after_checkpoint(results, work, iteration=24)
    trained = final.stat().st_mtime_ns
    second = subprocess.run(_command(results, work), capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert second.returncode == 0, second.stderr[-3000:]
    assert ("meanteacher synthetic/1_8 seed 0: the final checkpoint has no record (interrupted "
            "during the final validation): evaluating it without training "
            f"({final}; --restart trains again)") in second.stderr
    assert re.search(r"iter \d+/24 loss", second.stderr) is None  # no training step
    assert final.stat().st_mtime_ns == trained  # the final weights were not written again
    resumed = _record(results)
    assert resumed["resumed_from"] == 24
    assert resumed["miou"] == pytest.approx(uninterrupted["miou"], abs=1e-6)
    assert resumed["per_class_iou"] == pytest.approx(uninterrupted["per_class_iou"], abs=1e-6)
    assert [h["iter"] for h in resumed["val_history"]] == [6, 12, 18, 24]
    assert ([h["mIoU"] for h in resumed["val_history"]]
            == pytest.approx([h["mIoU"] for h in uninterrupted["val_history"]], abs=1e-6))
    assert resumed["diagnostics"].keys() == uninterrupted["diagnostics"].keys()
    assert resumed["train_time_s"] > 0 and resumed["seconds_per_iter"] > 0
    # with its record written, a rerun trains again, as before
    third = subprocess.run(_command(results, work), capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert third.returncode == 0 and "evaluating it without training" not in third.stderr
    assert _record(results)["resumed_from"] == 0
