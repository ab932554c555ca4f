"""Where an MMEngine Runner's training iterations spend their time.

Two hooks bracket every event of the training loop: one with the highest priority (it runs
before every other hook), one with the lowest (after every other hook). Between them,
``IterBasedTrainLoop`` does, per iteration::

    [model.train(); next(dataloader)]  before_train_iter hooks  [model.train_step]
    after_train_iter hooks  [validation every val_interval iterations]

so the time between the closing hook of one iteration and the opening hook of the next
is the wait for the batch (validation, bracketed by ``before_val``/``after_val``, taken
out). MMEngine has no hook inside ``train_step`` nor after a checkpoint save, so the
optimizer wrapper's ``backward``/``step``/``zero_grad`` and the Runner's
``save_checkpoint`` are timed by wrapping them (:meth:`IterationClock.time_optimizer`,
:class:`TimedRunnerMixin`).
"""

from __future__ import annotations

import copy
import time
import types
from collections import defaultdict
from typing import Any, Callable

from mmengine.hooks import Hook

#: A time stamp or a duration: (wall-clock seconds, this process's CPU seconds).
Stamp = tuple[float, float]


def now() -> Stamp:
    """The wall clock (``perf_counter``) and this process's CPU time (``process_time``)."""
    return time.perf_counter(), time.process_time()


def elapsed(start: Stamp) -> Stamp:
    """Wall and CPU seconds since ``start``."""
    wall, cpu = now()
    return wall - start[0], cpu - start[1]


class IterationClock:
    """Seconds spent per phase over the timed iterations of one Runner's training.

    Iterations ``0 .. warmup-1`` are not timed (worker start, lazy optimizer state). The
    window runs from the end of iteration ``warmup-1`` to the start of ``after_train``, so
    every validation and checkpoint save after the warm-up is inside it.

    Args:
        warmup: Untimed iterations first (at least 1: the window starts at the end of one).
        keep_batches: Data batches kept in :attr:`batches`.

    Attributes:
        seconds: Phase name -> wall-clock seconds inside the window (``data`` (with the loop's
            ``model.train()``), ``before_hooks``, ``train_step``, ``backward``,
            ``optimizer_step``, ``zero_grad``, ``after_hooks``, ``validation``,
            ``checkpoint``, ``total``).
        cpu_seconds: Phase name -> this process's CPU seconds (loader workers excluded),
            which other load on the machine changes far less than wall-clock seconds.
        counts: Phase name -> occurrences inside the window (iterations, validations,
            checkpoint saves).
        batches: Copies of the data batches of the first ``keep_batches`` training
            iterations, in order (for a bare loop over the same batches); the copying is
            not counted in any phase nor in ``total``.
        first_batch_at: ``time.perf_counter()`` when the first batch arrived (None before).
    """

    def __init__(self, warmup: int, keep_batches: int = 0) -> None:
        if warmup < 1:
            raise ValueError(f"warmup must be at least 1, got {warmup}")
        self.warmup = warmup
        self.keep_batches = keep_batches
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.batches: list[Any] = []
        self.first_batch_at: float | None = None
        self._timing = False
        self._marks: dict[str, Stamp] = {}
        self._window_start: Stamp = (0.0, 0.0)
        self._val_in_gap: Stamp = (0.0, 0.0)
        self._excluded: Stamp = (0.0, 0.0)  # copying the kept batches (inside the window)

    # ------------------------------------------------------------- hook events
    def mark(self, name: str) -> None:
        """Remember the current time as ``name``."""
        self._marks[name] = now()

    def since(self, name: str) -> Stamp:
        """Wall and CPU seconds since :meth:`mark` ``name``."""
        return elapsed(self._marks[name])

    def add(self, phase: str, duration: Stamp) -> None:
        """Count ``duration`` (wall, CPU seconds) for ``phase`` if inside the window."""
        if self._timing:
            self.seconds[phase] += duration[0]
            self.cpu_seconds[phase] += duration[1]
            self.counts[phase] += 1

    def iteration_opened(self, iteration: int, data_batch: Any) -> None:
        """First ``before_train_iter`` hook: the batch has arrived."""
        if self.first_batch_at is None:
            self.first_batch_at = time.perf_counter()
        if self._timing:
            gap = self.since("iteration_end")
            self.add("data", (gap[0] - self._val_in_gap[0], gap[1] - self._val_in_gap[1]))
        self._val_in_gap = (0.0, 0.0)
        if len(self.batches) < self.keep_batches:
            # a copy in this process's memory: a loader worker's batch holds one open file
            # descriptor per tensor, and keeping hundreds of them exhausts the limit
            start = now()
            self.batches.append(copy.deepcopy(data_batch))
            if self._timing:
                copied = elapsed(start)
                self._excluded = (self._excluded[0] + copied[0], self._excluded[1] + copied[1])
        self.mark("opened")

    def iteration_closed(self, iteration: int) -> None:
        """Last ``after_train_iter`` hook: the iteration's hooks are done."""
        self.add("after_hooks", self.since("step_end"))
        self.mark("iteration_end")
        if iteration + 1 == self.warmup:
            self._timing = True
            self._window_start = self._marks["iteration_end"]

    def validation_done(self, duration: Stamp) -> None:
        """Validation (``before_val`` .. ``after_val``) took ``duration``."""
        self.add("validation", duration)
        self._val_in_gap = (self._val_in_gap[0] + duration[0], self._val_in_gap[1] + duration[1])

    def training_done(self) -> None:
        """First ``after_train`` hook: close the window."""
        if self._timing:
            total = elapsed(self._window_start)
            self.seconds["total"] = total[0] - self._excluded[0]
            self.cpu_seconds["total"] = total[1] - self._excluded[1]
            self.counts["total"] = self.counts["train_step"]
        self._timing = False

    # ------------------------------------------------------ wrapped callables
    def timed(self, phase: str, function: Callable) -> Callable:
        """``function``, with the duration of each call counted for ``phase``."""

        def wrapper(*args, **kwargs):
            start = now()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(phase, elapsed(start))

        return wrapper

    def time_optimizer(self, optim_wrapper: Any) -> None:
        """Time ``backward`` and ``step`` + ``zero_grad`` of an MMEngine ``OptimWrapper``.

        ``OptimWrapper.update_params`` calls them on the instance, so bound methods set on
        the instance replace them for this wrapper only (bound, because MMEngine's
        parameter schedulers wrap ``step`` through its ``__self__``).
        """
        for name, phase in (("backward", "backward"), ("step", "optimizer_step"),
                            ("zero_grad", "zero_grad")):
            timed = self.timed(phase, getattr(optim_wrapper, name))
            setattr(optim_wrapper, name,
                    types.MethodType(lambda _self, *a, _timed=timed, **k: _timed(*a, **k),
                                     optim_wrapper))


class OpeningHook(Hook):
    """Runs first at every event: the start of an iteration's hooks, the end of its step."""

    priority = "HIGHEST"

    def __init__(self, clock: IterationClock) -> None:
        self.clock = clock

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.clock.iteration_opened(runner.iter, data_batch)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.clock.add("train_step", self.clock.since("step_start"))
        self.clock.mark("step_end")

    def before_val(self, runner) -> None:
        self.clock.mark("val_start")

    def after_train(self, runner) -> None:
        self.clock.training_done()


class ClosingHook(Hook):
    """Runs last at every event: the end of an iteration's hooks, the start of its step."""

    priority = "LOWEST"

    def __init__(self, clock: IterationClock) -> None:
        self.clock = clock

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.clock.add("before_hooks", self.clock.since("opened"))
        self.clock.mark("step_start")

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.clock.iteration_closed(runner.iter)

    def after_val(self, runner) -> None:
        self.clock.validation_done(self.clock.since("val_start"))


class TimedRunnerMixin:
    """Runner mixin: times checkpoint saves and the optimizer wrapper for ``clock``.

    Set ``clock`` on the instance before ``train()``; both hooks are registered by
    :func:`register_clock`.
    """

    clock: IterationClock

    def save_checkpoint(self, *args, **kwargs):
        """MMEngine's checkpoint save, counted as ``checkpoint``."""
        return self.clock.timed("checkpoint", super().save_checkpoint)(*args, **kwargs)

    def build_optim_wrapper(self, *args, **kwargs):
        """MMEngine's optimizer wrapper, with ``backward`` and ``step`` timed."""
        wrapper = super().build_optim_wrapper(*args, **kwargs)
        self.clock.time_optimizer(wrapper)
        return wrapper


def register_clock(runner: Any, clock: IterationClock) -> None:
    """Attach ``clock`` to a :class:`TimedRunnerMixin` runner and register its two hooks."""
    runner.clock = clock
    runner.register_hook(OpeningHook(clock))
    runner.register_hook(ClosingHook(clock))
