"""Time full training steps of methods side by side, in one process.

A step is what MMEngine's loop runs per iteration: data preprocessing, forward, loss,
backward, optimizer step, and the EMA teacher update. Batches come from the protocol's
real pipeline and are collated before timing, so data loading (reported separately)
does not blur the comparison. The median over steps is reported after warm-up.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS
from mmseg.utils import register_all_modules
from tabulate import tabulate

from benchmark.perf.trainer import build_quiet_trainer
from benchmark.protocols import get_protocol
from benchmark.runs.config_builder import build_config
from benchmark.runs.spec import RunSpec


@dataclass
class StepTiming:
    """Timing of one method's training steps (seconds)."""

    method: str
    median_step: float
    mean_step: float
    data_per_batch: float
    steps: int


def time_training_steps(method: str, protocol: str = "synthetic", split: str = "1_8",
                        steps: int = 20, warmup: int = 3, cfg_options: dict | None = None,
                        seed: int = 0) -> StepTiming:
    """Build ``method`` on the protocol's real config and time ``steps`` training steps.

    Args:
        method: Registered method name.
        protocol: Protocol name.
        split: Split whose lists feed the pipeline.
        steps: Timed steps (the median is reported).
        warmup: Untimed steps first.
        cfg_options: Config overrides (dotted keys), e.g. ``{"model.tau": 0.0}``.
        seed: Seed of the model initialisation and the data.

    Returns:
        The timing.
    """
    import benchmark.plugins  # noqa: F401  (registers every method)

    register_all_modules(init_default_scope=True)
    spec = RunSpec(method=method, protocol=protocol, split=split, seed=seed,
                   cfg_options=cfg_options or {})
    cfg = build_config(spec, get_protocol(protocol).data_root(), Path("/tmp/unused"))
    np.random.seed(seed)
    torch.manual_seed(seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch_size = cfg.train_dataloader.batch_size
    start = time.perf_counter()
    batches = [pseudo_collate([dataset[(i * batch_size + j) % len(dataset)]
                               for j in range(batch_size)]) for i in range(steps + warmup)]
    data_per_batch = (time.perf_counter() - start) / len(batches)

    model, optim_wrapper = build_quiet_trainer(cfg.model, cfg.optim_wrapper, seed)
    durations = []
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        model.train_step(batch, optim_wrapper)
        model.update_teacher(i)
        if i >= warmup:
            durations.append(time.perf_counter() - start)
    return StepTiming(method, statistics.median(durations), statistics.mean(durations),
                      data_per_batch, len(durations))


def format_step_timings(timings: list[StepTiming]) -> str:
    """Table of step times with the ratio to the first method (the reference)."""
    reference = timings[0].median_step
    rows = [[t.method, f"{t.median_step * 1000:.1f}", f"{t.mean_step * 1000:.1f}",
             f"{t.median_step / reference:.2f}x", f"{t.data_per_batch * 1000:.1f}"]
            for t in timings]
    headers = ["method", "median ms/step", "mean ms/step", f"vs {timings[0].method}",
               "data ms/batch (separate)"]
    return tabulate(rows, headers=headers, tablefmt="github")
