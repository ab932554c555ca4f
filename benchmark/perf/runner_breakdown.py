"""Per-iteration cost of a real MMEngine Runner run against a bare training loop.

The Runner run is a run as ``python -m benchmark run`` trains it (the composed config,
the same Runner class and run hooks, validation and resume checkpoints at the schedule's
intervals), in a temporary work dir and without a record. Its iterations are split by
:class:`~benchmark.perf.iteration_clock.IterationClock`. The bare loop then trains a fresh
copy of the same model on the batches the Runner loaded (copies of the first
``KEPT_BATCHES``, cycled) with the plain body ``loss.backward(); optimizer.step()``. Both
exclude their first ``warmup`` iterations. Wall-clock and CPU seconds are both reported:
on a machine shared with other work the CPU seconds of this process change far less.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from unittest import mock

import torch

from benchmark.perf.iteration_clock import (
    IterationClock,
    TimedRunnerMixin,
    now,
    register_clock,
)
from benchmark.runs.executor import _checkpoint_interval

#: Most batches kept for the bare loop (it cycles through them beyond that).
KEPT_BATCHES = 200


@dataclasses.dataclass
class RunnerBreakdown:
    """Measured seconds of one Runner run and of the bare loop on its batches.

    Attributes:
        method: Registered method name.
        num_workers: Loader workers (training and validation).
        threads: Torch intra-op threads.
        iterations: Timed Runner iterations (after the warm-up).
        seconds: Runner phase -> wall-clock seconds over the timed iterations (see
            ``IterationClock``).
        cpu_seconds: Runner phase -> this process's CPU seconds over the same iterations.
        counts: Runner phase -> occurrences over the timed iterations.
        iter_timer: MMEngine ``IterTimerHook``'s mean ``data_time`` and ``time`` (seconds)
            over the timed iterations, from the runner's message hub.
        bare: Bare-loop phase -> mean wall-clock seconds per iteration.
        bare_cpu: Bare-loop phase -> mean CPU seconds per iteration.
        setup_seconds: From building the Runner to its first iteration's batch.
        yapf_calls: yapf formatting calls while the Runner existed (0: no config render
            formatted).
        schedule: The protocol's default schedule: ``iters``, ``validations``, ``saves``.
    """

    method: str
    num_workers: int
    threads: int
    iterations: int
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]
    counts: dict[str, int]
    iter_timer: dict[str, float]
    bare: dict[str, float]
    bare_cpu: dict[str, float]
    setup_seconds: float
    yapf_calls: int
    schedule: dict[str, int]

    def per_iteration(self, phase: str, cpu: bool = False) -> float:
        """Runner seconds (wall-clock, or CPU if ``cpu``) of ``phase`` per timed iteration."""
        return (self.cpu_seconds if cpu else self.seconds).get(phase, 0.0) / self.iterations

    def per_event(self, phase: str, cpu: bool = False) -> float:
        """Runner seconds per occurrence of ``phase`` (validation, checkpoint), 0 if none."""
        count = self.counts.get(phase, 0)
        seconds = (self.cpu_seconds if cpu else self.seconds).get(phase, 0.0)
        return seconds / count if count else 0.0

    def bare_mean(self, phase: str, cpu: bool = False) -> float:
        """Bare-loop seconds (wall-clock, or CPU if ``cpu``) of ``phase`` per iteration."""
        return (self.bare_cpu if cpu else self.bare)[phase]


def schedule_events(max_iters: int, val_interval: int, checkpoint_interval: int) -> dict:
    """Validations and checkpoint saves of a run of ``max_iters`` iterations.

    Validation runs every ``val_interval`` iterations and after the last one; resume
    checkpoints at every ``checkpoint_interval`` before the end, plus the final save.
    """
    validations = max_iters // val_interval + (1 if max_iters % val_interval else 0)
    saves = len(range(checkpoint_interval, max_iters, checkpoint_interval)) + 1
    return {"iters": max_iters, "validations": validations, "saves": saves}


def _compose(method: str, split: str, seed: int, iters: int | None, num_workers: int | None,
             work_dir: Path, pretrained: str | None):
    """The run's composed config; ``num_workers`` (None: the protocol's) in every loader."""
    from benchmark.protocols import get_protocol
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    spec = RunSpec(method=method, protocol="synthetic", split=split, seed=seed, iters=iters,
                   pretrained=pretrained)
    cfg = build_config(spec, get_protocol("synthetic").data_root(), work_dir)
    # MMEngine reuses a visualizer of the same name, with the save dir of the first Runner
    cfg.visualizer.name = f"perf-runner-{uuid.uuid4().hex[:8]}"
    if num_workers is None:
        return cfg
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        cfg[loader].num_workers = num_workers
        cfg[loader].persistent_workers = num_workers > 0
    return cfg


def _train_runner(cfg, clock: IterationClock) -> tuple[float, int, dict]:
    """Train ``cfg`` with the run's Runner and hooks; set-up seconds, yapf calls, timer means."""
    import mmengine.config.config as mmengine_config

    from benchmark.engine import RunProgressHook
    from benchmark.engine.console import file_logging
    from benchmark.engine.resume import RandomStateHook, ResumableRunner, ResumeCheckpointHook

    yapf_calls = []
    format_code = mmengine_config.FormatCode

    def counted_format_code(*args, **kwargs):
        yapf_calls.append(1)
        return format_code(*args, **kwargs)

    runner_cls = type("TimedRunner", (TimedRunnerMixin, file_logging(ResumableRunner)), {})
    with mock.patch.object(mmengine_config, "FormatCode", counted_format_code):
        start = time.perf_counter()
        runner = runner_cls.from_cfg(cfg)
        runner.register_hook(RunProgressHook(stream=None))
        runner.register_hook(RandomStateHook())
        runner.register_hook(ResumeCheckpointHook(_checkpoint_interval(cfg)))
        register_clock(runner, clock)
        runner.train()
    hub = runner.message_hub
    timer = {name: statistics.fmean(hub.get_scalar(f"train/{name}").data[0][clock.warmup:])
             for name in ("data_time", "time")}
    return clock.first_batch_at - start, len(yapf_calls), timer


def time_bare_loop(cfg, batches: list, steps: int, warmup: int,
                   seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """Mean wall-clock and CPU seconds per iteration of a plain training loop.

    The model and optimizer are built from ``cfg`` as the Runner builds them; ``batches``
    are cycled through. The body is preprocessing and the loss, ``loss.backward()``,
    ``optimizer.step()`` and ``zero_grad()``, and the EMA teacher update (a no-op without
    a teacher).
    """
    from benchmark.perf.trainer import build_quiet_trainer

    model, optim_wrapper = build_quiet_trainer(cfg.model, cfg.optim_wrapper, seed)
    optimizer = optim_wrapper.optimizer
    if hasattr(model, "set_train_progress"):
        model.set_train_progress(0, cfg.train_cfg.max_iters)
    phases = ("forward", "backward", "optimizer_step", "ema")
    sums = [defaultdict(float), defaultdict(float)]  # wall, CPU
    for i in range(warmup + steps):
        batch = batches[i % len(batches)]
        marks = [now()]
        data = model.data_preprocessor(batch, True)
        loss, _ = model.parse_losses(model(**data, mode="loss"))
        marks.append(now())
        loss.backward()
        marks.append(now())
        optimizer.step()
        optimizer.zero_grad()
        marks.append(now())
        model.update_teacher(i)
        marks.append(now())
        if i >= warmup:
            for phase, begin, end in zip(phases, marks, marks[1:]):
                for kind in (0, 1):
                    sums[kind][phase] += end[kind] - begin[kind]
    means = []
    for kind in (0, 1):
        mean = {phase: sums[kind][phase] / steps for phase in phases}
        mean["total"] = sum(mean.values())
        means.append(mean)
    return means[0], means[1]


def run_runner_breakdown(method: str = "supervised", iters: int = 200, warmup: int = 10,
                         num_workers: int | None = None, split: str = "1_8", seed: int = 0,
                         pretrained: str | None = None) -> RunnerBreakdown:
    """Train ``method`` on the built-in protocol with the Runner, then the bare loop.

    Args:
        method: Registered method name.
        iters: Schedule of the Runner run (validation and checkpoints every ``iters // 5``).
        warmup: Untimed first iterations of both loops.
        num_workers: Loader workers of every dataloader; None keeps the protocol's.
        split: Split of the built-in protocol.
        seed: Seed of the run.
        pretrained: ``--pretrained`` of the run (None: the protocol's).

    Returns:
        The measured breakdown.
    """
    from mmseg.utils import register_all_modules

    import benchmark.plugins  # noqa: F401  (registers every method)

    register_all_modules(init_default_scope=True)
    if not 1 <= warmup < iters:
        raise ValueError(f"warmup must be in [1, iters), got {warmup} of {iters}")
    with tempfile.TemporaryDirectory(prefix="perf-runner-") as work:
        default = _compose(method, split, seed, None, None, Path(work), pretrained)
        cfg = _compose(method, split, seed, iters, num_workers, Path(work) / "run", pretrained)
        clock = IterationClock(warmup, keep_batches=min(iters, KEPT_BATCHES))
        setup, yapf_calls, timer = _train_runner(cfg, clock)
        gc.collect()  # the Runner's loader workers end before the bare loop starts
        bare, bare_cpu = time_bare_loop(cfg, clock.batches, iters - warmup, warmup, seed)
    train_cfg = default.train_cfg
    return RunnerBreakdown(
        method=method, num_workers=cfg.train_dataloader.num_workers,
        threads=torch.get_num_threads(), iterations=clock.counts["train_step"],
        seconds=dict(clock.seconds), cpu_seconds=dict(clock.cpu_seconds),
        counts=dict(clock.counts), iter_timer=timer, bare=bare, bare_cpu=bare_cpu,
        setup_seconds=setup, yapf_calls=yapf_calls,
        schedule=schedule_events(train_cfg.max_iters, train_cfg.val_interval,
                                 _checkpoint_interval(default)))


def _rows(result: RunnerBreakdown, cpu: bool) -> list[tuple[str, float, float | None]]:
    """(phase, Runner seconds per iteration, bare-loop seconds per iteration or None)."""

    def per(phase: str) -> float:
        return result.per_iteration(phase, cpu)

    def bare(phase: str) -> float:
        return result.bare_mean(phase, cpu)

    optimizer = per("optimizer_step") + per("zero_grad")
    forward = per("train_step") - per("backward") - optimizer
    hooks = per("before_hooks") + per("after_hooks") - per("checkpoint")
    rows = [
        ("data loading (waiting for the batch)", per("data"), 0.0),
        ("forward (preprocessing, loss)", forward, bare("forward")),
        ("backward", per("backward"), bare("backward")),
        ("optimiser step (step, zero_grad)", optimizer, bare("optimizer_step")),
        ("hooks (EMA teacher, logging, scheduler, progress)", hooks, bare("ema")),
        (f"checkpoint saves ({result.counts.get('checkpoint', 0)} x "
         f"{result.per_event('checkpoint') * 1000:.0f} ms)", per("checkpoint"), None),
        (f"validation ({result.counts.get('validation', 0)} x "
         f"{result.per_event('validation') * 1000:.0f} ms)", per("validation"), None),
    ]
    rows.append(("loop (hook dispatch, interval checks)",
                 per("total") - sum(runner for _, runner, _ in rows), None))
    rows.append(("iteration", per("total"), bare("total")))
    return rows


def projected_iteration(result: RunnerBreakdown, cpu: bool = False) -> float:
    """Runner seconds per iteration with the validations and checkpoint saves of the
    protocol's default schedule amortised over its length instead of this run's."""
    schedule = result.schedule
    events = (result.per_event("validation", cpu) * schedule["validations"]
              + result.per_event("checkpoint", cpu) * schedule["saves"])
    measured = result.per_iteration("validation", cpu) + result.per_iteration("checkpoint", cpu)
    return result.per_iteration("total", cpu) - measured + events / schedule["iters"]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _ratio_line(label: str, runner: tuple[float, float], bare: tuple[float, float]) -> str:
    """``label``: wall-clock and CPU figures of the Runner and the bare loop, and ratios."""
    return (f"{label}: wall {runner[0] * 1000:.1f} / {bare[0] * 1000:.1f} ms = "
            f"{runner[0] / bare[0]:.2f}x, CPU {runner[1] * 1000:.1f} / {bare[1] * 1000:.1f} ms "
            f"= {runner[1] / bare[1]:.2f}x")


def format_runner_breakdown(result: RunnerBreakdown, warmup: int) -> str:
    """The per-iteration table, the ratios to the bare loop and MMEngine's own timer."""
    from tabulate import tabulate

    wall, cpu = _rows(result, cpu=False), _rows(result, cpu=True)
    total = result.per_iteration("total")
    table = [[phase, _ms(runner), f"{runner / total:.1%}", _ms(bare), _ms(runner_cpu),
              _ms(bare_cpu)]
             for (phase, runner, bare), (_, runner_cpu, bare_cpu) in zip(wall, cpu)]
    headers = ["phase", "Runner ms/iter", "share", "bare loop ms/iter", "Runner CPU ms/iter",
               "bare CPU ms/iter"]

    def both(function, *args) -> tuple[float, float]:
        return function(*args, cpu=False), function(*args, cpu=True)

    bare_total = both(result.bare_mean, "total")
    bare_ema = both(result.bare_mean, "ema")
    bare_step = (bare_total[0] - bare_ema[0], bare_total[1] - bare_ema[1])
    schedule = result.schedule
    projected = both(projected_iteration, result)
    return "\n".join([
        f"Runner iteration breakdown: {result.method}, built-in protocol, "
        f"{result.iterations} timed iterations after {warmup} warm-up, num_workers "
        f"{result.num_workers}, {result.threads} thread(s)",
        tabulate(table, headers=headers, tablefmt="github"),
        _ratio_line("Runner iteration / bare iteration",
                    both(result.per_iteration, "total"), bare_total),
        _ratio_line("model step (forward, backward, optimiser step) Runner / bare",
                    both(result.per_iteration, "train_step"), bare_step),
        _ratio_line(f"at the protocol's default schedule ({schedule['iters']} iterations, "
                    f"{schedule['validations']} validations, {schedule['saves']} checkpoint "
                    "saves) Runner iteration / bare", projected, bare_total),
        f"MMEngine IterTimerHook means: data_time {result.iter_timer['data_time'] * 1000:.1f} "
        f"ms (includes the previous iteration's later after_train_iter hooks), time "
        f"{result.iter_timer['time'] * 1000:.1f} ms (validation excluded)",
        f"Runner set-up until the first batch: {result.setup_seconds:.2f} s; yapf calls "
        f"while the Runner ran: {result.yapf_calls}",
    ])
