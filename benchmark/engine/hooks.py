"""Hooks: EMA teacher, training progress for the model, NaN-loss stop, progress line.

MMEngine's ``EMAHook`` averages a copy used only for evaluation and its ``LoggerHook``
prints multi-line logs; the segmentation teacher and the compact per-run progress line
(with ETA, seconds per iteration and diagnostics summary for the run record) are
written here.
"""

from __future__ import annotations

import math
import sys
import time

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from benchmark.errors import NonFiniteLossError


def _scalar(value) -> float:
    """A logged loss (tensor that may require grad, or number) as a Python float."""
    return float(torch.as_tensor(value).detach())


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class TeacherEMAHook(Hook):
    """Copy the student into the teacher at iteration 0, then EMA after each step.

    The momentum and buffer policy belong to the method (``ema_momentum``,
    ``ema_buffers``); this hook only triggers them. On resume (iteration > 0) the
    teacher comes from the checkpoint and is not re-copied.
    """

    priority = "ABOVE_NORMAL"

    def before_train(self, runner) -> None:
        if runner.iter == 0:
            _unwrap(runner.model).init_teacher()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        _unwrap(runner.model).update_teacher(runner.iter)


@HOOKS.register_module()
class TrainProgressHook(Hook):
    """Tell the model its iteration before every step (for the unsupervised warm-up)."""

    priority = "VERY_HIGH"

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = _unwrap(runner.model)
        if hasattr(model, "set_train_progress"):
            model.set_train_progress(runner.iter, runner.max_iters)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training with a clear message when the total loss is NaN or infinite."""

    priority = "VERY_HIGH"

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs or "loss" not in outputs:
            return
        value = _scalar(outputs["loss"])
        if not math.isfinite(value):
            terms = ", ".join(f"{k}={_scalar(v):.4g}"
                              for k, v in outputs.items() if "loss" in k and k != "loss")
            raise NonFiniteLossError(
                f"loss became {value} at iteration {runner.iter + 1} ({terms}); lower the "
                "learning rate (--cfg-options optim_wrapper.optimizer.lr=...) or check the data"
            )


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@HOOKS.register_module()
class RunProgressHook(Hook):
    """One updating progress line per run, plus timing and diagnostics for the record.

    Seconds per iteration cover training only (data loading included, validation
    excluded), measured after ``warmup`` iterations.

    Args:
        label: Text identifying the run, shown at the start of the line.
        interval: Iterations between updates.
        warmup: Iterations excluded from the seconds-per-iteration measurement.
        stream: Where to write (default stderr); None disables the display.
        updates: If set, write this many full lines over the schedule instead of one line
            redrawn every ``interval`` iterations (for several runs sharing one console).
    """

    priority = "LOW"

    def __init__(self, label: str = "", interval: int = 10, warmup: int = 2,
                 stream=sys.stderr, updates: int | None = None) -> None:
        self.label = label
        self.interval = interval
        self.updates = updates
        self.warmup = warmup
        self.stream = stream
        self.seconds_per_iter: float | None = None
        self.train_seconds = 0.0
        self.diagnostics: dict[str, float] = {}
        self._diag_sums: dict[str, float] = {}
        self._diag_counts: dict[str, int] = {}
        self._start = self._timed_start = 0.0
        self._timed_iters = 0
        self._last_loss = float("nan")
        self.val_history: list[dict] = []
        self._val_seconds = 0.0
        self._val_start = 0.0
        self._first_iter = 0
        self._earlier_train_seconds = 0.0  # of the processes before a resume

    def before_train(self, runner) -> None:
        self._start = time.perf_counter()
        self._first_iter = runner.iter  # > 0 after a resume
        if self.updates:
            self.interval = max(1, runner.max_iters // self.updates)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["run_progress"] = {
            "val_history": self.val_history, "diag_sums": self._diag_sums,
            "diag_counts": self._diag_counts,
            "train_seconds": self._train_seconds_so_far(),
            "seconds_per_iter": self.seconds_per_iter}

    def _train_seconds_so_far(self) -> float:
        """This process's time since ``before_train`` plus that of the processes before a resume."""
        return self._earlier_train_seconds + time.perf_counter() - self._start

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get("run_progress", {})
        self.val_history = list(state.get("val_history", []))
        self._diag_sums = dict(state.get("diag_sums", {}))
        self._diag_counts = dict(state.get("diag_counts", {}))
        self._earlier_train_seconds = float(state.get("train_seconds", 0.0))
        self.seconds_per_iter = state.get("seconds_per_iter")  # until this process measures

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done = runner.iter + 1
        done_here = done - self._first_iter  # iterations trained by this process
        now = time.perf_counter()
        if done_here == self.warmup:
            self._timed_start = now
            self._val_seconds = 0.0
        elif done_here > self.warmup:
            self._timed_iters = done_here - self.warmup
            training = now - self._timed_start - self._val_seconds
            self.seconds_per_iter = training / self._timed_iters
        for key, value in (outputs or {}).items():
            if key.startswith("diag."):
                self._diag_sums[key] = self._diag_sums.get(key, 0.0) + _scalar(value)
                self._diag_counts[key] = self._diag_counts.get(key, 0) + 1
        if outputs and "loss" in outputs:
            self._last_loss = _scalar(outputs["loss"])
        total = runner.max_iters
        if self.stream is not None and (done % self.interval == 0 or done == total):
            per_iter = self.seconds_per_iter or (now - self._start) / done_here
            eta = _format_seconds(per_iter * (total - done))
            line = (f"{self.label} iter {done}/{total} loss {self._last_loss:.4f} "
                    f"{per_iter:.3f} s/it ETA {eta}")
            line = f"{line}\n" if self.updates else f"\r{line}   "
            self.stream.write(line)
            self.stream.flush()

    def before_val_epoch(self, runner) -> None:
        self._val_start = time.perf_counter()

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        self._val_seconds += time.perf_counter() - self._val_start
        if metrics:
            self.val_history.append({"iter": runner.iter, **metrics})
            if self.stream is not None:
                start_line = "" if self.updates else "\n"  # end the redrawn progress line
                self.stream.write(f"{start_line}{self.label} val at iter {runner.iter}: "
                                  f"mIoU {metrics.get('mIoU', float('nan')):.2f}\n")
                self.stream.flush()

    def after_train(self, runner) -> None:
        self.train_seconds = self._train_seconds_so_far()
        self._average_diagnostics()
        if self.stream is not None and not self.updates:
            self.stream.write("\n")
            self.stream.flush()

    def finish_without_training(self) -> None:
        """End a run that only evaluated its final checkpoint (killed in the final validation).

        Training time, seconds per iteration and diagnostics are those the checkpoint
        carries from the processes that trained.
        """
        self.train_seconds = self._earlier_train_seconds
        self._average_diagnostics()

    def _average_diagnostics(self) -> None:
        self.diagnostics = {k[len("diag."):]: self._diag_sums[k] / self._diag_counts[k]
                            for k in self._diag_sums}
