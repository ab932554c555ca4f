"""Time full training steps of methods side by side, in one process.

A step is what MMEngine's loop runs per iteration: data preprocessing, forward, loss,
backward, optimizer step, and the EMA teacher update. Batches come from the protocol's
real pipeline and are collated before timing, so data loading (reported separately)
does not blur the comparison. The median over steps is reported after warm-up.
"""

from __future__ import annotations

import ctypes
import gc
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
    """Timing of one method's training steps (seconds).

    ``median_cpu_step`` is the process's CPU time per step (all its threads): on a machine
    shared with other jobs it moves much less than the wall-clock ``median_step``.
    """

    method: str
    median_step: float
    mean_step: float
    data_per_batch: float
    steps: int
    peak_memory_mb: float | None = None
    memory_kind: str = ""
    median_cpu_step: float | None = None


def _reset_peak_memory() -> str:
    """Reset the peak-memory counter of this process; return what will be measured.

    CUDA: the caching allocator's peak. CPU: the resident-set high-water mark (``VmHWM``),
    reset through ``/proc/self/clear_refs`` (Linux); "" when neither is available. Written
    here because torch has no CPU peak-memory counter.
    """
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return "cuda peak allocated"
    gc.collect()
    try:  # hand freed heap back to the OS, so an earlier method's memory does not count
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return ""
    return "peak RSS"


def _peak_memory_mb(kind: str) -> float | None:
    if kind == "cuda peak allocated":
        return torch.cuda.max_memory_allocated() / 2**20
    if kind == "peak RSS":
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def time_training_steps(method: str, protocol: str = "synthetic", split: str = "1_8",
                        steps: int = 20, warmup: int = 3, cfg_options: dict | None = None,
                        seed: int = 0, backbone: str | None = None) -> StepTiming:
    """Build ``method`` on the protocol's real config and time ``steps`` training steps.

    Args:
        method: Registered method name.
        protocol: Protocol name.
        split: Split whose lists feed the pipeline.
        steps: Timed steps (the median is reported).
        warmup: Untimed steps first.
        cfg_options: Config overrides (dotted keys), e.g. ``{"model.sop_weight": 0.0}``.
        seed: Seed of the model initialisation and the data.
        backbone: ``--backbone`` (None: the protocol's network); named in the timing's
            ``method`` label as ``method [backbone]``.

    Returns:
        The timing.
    """
    import benchmark.plugins  # noqa: F401  (registers every method)

    register_all_modules(init_default_scope=True)
    spec = RunSpec(method=method, protocol=protocol, split=split, seed=seed,
                   cfg_options=cfg_options or {}, backbone=backbone)
    cfg = build_config(spec, get_protocol(protocol).data_root(), Path("/tmp/unused"))
    np.random.seed(seed)
    torch.manual_seed(seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch_size = cfg.train_dataloader.batch_size
    start = time.perf_counter()
    batches = [pseudo_collate([dataset[(i * batch_size + j) % len(dataset)]
                               for j in range(batch_size)]) for i in range(steps + warmup)]
    data_per_batch = (time.perf_counter() - start) / len(batches)

    memory_kind = _reset_peak_memory()
    model, optim_wrapper = build_quiet_trainer(cfg.model, cfg.optim_wrapper, seed)
    durations, cpu_durations = [], []
    for i, batch in enumerate(batches):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train_step(batch, optim_wrapper)
        model.update_teacher(i)
        if i >= warmup:
            durations.append(time.perf_counter() - start)
            cpu_durations.append(time.process_time() - cpu_start)
    peak = _peak_memory_mb(memory_kind)
    del model, optim_wrapper
    label = f"{method} [{backbone}]" if backbone else method
    return StepTiming(label, statistics.median(durations), statistics.mean(durations),
                      data_per_batch, len(durations), peak, memory_kind,
                      statistics.median(cpu_durations))


def format_step_timings(timings: list[StepTiming]) -> str:
    """Table of step times and peak memory with ratios to the first method (the reference).

    On CPU the peak is the process's resident set while the method trained (libraries and
    cached batches included), so memory ratios understate the difference of the models.
    """
    reference = timings[0]
    rows = []
    for t in timings:
        memory = ["-", "-"]
        if t.peak_memory_mb is not None and reference.peak_memory_mb:
            memory = [f"{t.peak_memory_mb:.0f}",
                      f"{t.peak_memory_mb / reference.peak_memory_mb:.2f}x"]
        cpu = ["-", "-"]
        if t.median_cpu_step is not None and reference.median_cpu_step:
            cpu = [f"{t.median_cpu_step * 1000:.1f}",
                   f"{t.median_cpu_step / reference.median_cpu_step:.2f}x"]
        rows.append([t.method, f"{t.median_step * 1000:.1f}", f"{t.mean_step * 1000:.1f}",
                     f"{t.median_step / reference.median_step:.2f}x", *cpu, *memory,
                     f"{t.data_per_batch * 1000:.1f}"])
    kind = reference.memory_kind or "peak memory"
    headers = ["method", "median ms/step", "mean ms/step", f"vs {reference.method}",
               "median CPU ms/step", f"vs {reference.method}", f"{kind} MB",
               f"vs {reference.method}", "data ms/batch (separate)"]
    return tabulate(rows, headers=headers, tablefmt="github")
