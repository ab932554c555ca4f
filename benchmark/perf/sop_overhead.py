"""Cost of SOP's perturbation inside full training iterations (``perf sop-overhead``).

Two copies of the ``sop`` model of the built-in protocol (its real config, network and
data pipeline) start from the same weights: one with ``tau = 0.25`` and one with
``tau = 0``, which computes no perturbation. Each timed step is a full training iteration
on an already collated batch: data preprocessing, forward, backward, optimizer step and
EMA update. The two models alternate step by step (in ABBA order), so load from other
processes on a shared CPU hits both alike; after a few warm-up steps the median of
``steps`` timings is reported for each, with their ratio and the median time of the
perturbation alone.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmark.perf.trainer import build_quiet_trainer

SOP_WEIGHT = 0.25


def _config(split: str, seed: int, batch_size: int | None) -> Any:
    from mmseg.utils import register_all_modules

    from benchmark.protocols import get_protocol
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    register_all_modules(init_default_scope=True)
    import benchmark.plugins  # noqa: F401 - registers every method
    protocol = get_protocol("synthetic")
    spec = RunSpec(method="sop", protocol="synthetic", split=split, seed=seed, iters=1000)
    with tempfile.TemporaryDirectory() as work:
        cfg = build_config(spec, protocol.data_root(), Path(work) / "work")
    if batch_size is not None:
        cfg.train_dataloader.batch_size = batch_size
    return cfg


def _collated_batch(cfg: Any, seed: int) -> dict:
    import numpy as np
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS

    np.random.seed(seed)
    torch.manual_seed(seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return pseudo_collate([dataset[i] for i in range(cfg.train_dataloader.batch_size)])


def _trainer(cfg: Any, sop_weight: float, seed: int) -> tuple[Any, Any]:
    model_cfg = cfg.model.copy()
    model_cfg.sop_weight = sop_weight
    return build_quiet_trainer(model_cfg, cfg.optim_wrapper, seed)


def _step(model: Any, optim_wrapper: Any, batch: dict, iteration: int) -> float:
    start = time.perf_counter()
    model.train_step(batch, optim_wrapper)
    model.update_teacher(iteration)
    return time.perf_counter() - start


def _perturbation_seconds(model: Any, batch: dict, repeats: int) -> float:
    """Median time of the SOP perturbation alone on this batch's teacher maps."""
    data = model.data_preprocessor(batch, True)["inputs"]
    unlabeled, mix = data["unlabeled"], data["unlabeled_mix"]
    logits = model.teacher_logits(torch.cat([unlabeled.weak, mix.weak]))
    pad_mask = torch.cat([unlabeled.pad_mask, mix.pad_mask])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.perturb(logits, pad_mask, None)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_sop_overhead(steps: int = 20, warmup: int = 3, split: str = "1_8", seed: int = 0,
                     batch_size: int | None = None,
                     num_threads: int | None = None) -> dict[str, float]:
    """Time full ``sop`` training iterations with ``tau = 0.25`` against ``tau = 0``.

    Args:
        steps: Timed iterations per model (median reported).
        warmup: Untimed iterations per model first.
        split: Split of the built-in protocol the batch is drawn from.
        seed: Seed of the weights and of the batch.
        batch_size: Images per branch; None keeps the protocol's (8 + 8).
        num_threads: CPU threads for torch during the run (restored afterwards); None
            keeps the current setting.

    Returns:
        ``sop_seconds``, ``baseline_seconds`` (median step times), ``ratio`` (their
        quotient), ``perturbation_seconds`` (the perturbation alone), ``steps``,
        ``batch_size``, ``crop`` and ``torch_threads``.
    """
    if steps < 1 or warmup < 0:
        raise ValueError("steps must be >= 1 and warmup >= 0")
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        cfg = _config(split, seed, batch_size)
        batch = _collated_batch(cfg, seed)
        trainers = {"sop": _trainer(cfg, SOP_WEIGHT, seed), "baseline": _trainer(cfg, 0.0, seed)}
        times: dict[str, list[float]] = {name: [] for name in trainers}
        for iteration in range(warmup + steps):
            order = list(trainers) if iteration % 2 == 0 else list(trainers)[::-1]
            for name in order:
                model, optim_wrapper = trainers[name]
                seconds = _step(model, optim_wrapper, batch, iteration)
                if iteration >= warmup:
                    times[name].append(seconds)
        sop_model = trainers["sop"][0]
        perturbation = _perturbation_seconds(sop_model, batch, max(steps // 2, 1))
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous_threads)
    sop_seconds = statistics.median(times["sop"])
    baseline_seconds = statistics.median(times["baseline"])
    return {
        "sop_seconds": sop_seconds,
        "baseline_seconds": baseline_seconds,
        "ratio": sop_seconds / baseline_seconds,
        "perturbation_seconds": perturbation,
        "steps": float(steps),
        "batch_size": float(cfg.train_dataloader.batch_size),
        "crop": float(cfg.crop_size),
        "torch_threads": float(threads),
    }


def format_sop_overhead_report(result: dict[str, float], target: float = 1.15) -> str:
    """Render :func:`run_sop_overhead` figures as a few plain-text lines."""
    batch, crop = int(result["batch_size"]), int(result["crop"])
    verdict = "within" if result["ratio"] <= target else "ABOVE"
    return "\n".join([
        f"SOP overhead per training iteration: built-in protocol, {batch} + {batch} crops of "
        f"{crop} px, median of {int(result['steps'])} steps, torch threads "
        f"{int(result['torch_threads'])}",
        f"  sop, tau = {SOP_WEIGHT}:        {1000 * result['sop_seconds']:.1f} ms",
        f"  sop, tau = 0 (no SOP):  {1000 * result['baseline_seconds']:.1f} ms",
        f"  perturbation alone:     {1000 * result['perturbation_seconds']:.1f} ms",
        f"  ratio: {result['ratio']:.3f} ({verdict} the {target:.2f} target)",
    ])
