"""Resuming an interrupted run exactly where it stopped.

MMEngine's ``Runner`` restores model (teacher included), optimiser, scheduler and
iteration; three things it lacks are written here:

* Checkpoints at the *start* of an iteration (:class:`ResumeCheckpointHook`), after the
  previous iteration's validation, so a resumed run never skips a validation and the
  saved state is exactly the state the next step starts from.
* The random state (:class:`RandomStateHook`): Python, NumPy and torch generators are
  saved with the checkpoint and restored before the first resumed step, and validation
  leaves them untouched (a persistent validation loader draws its worker seed from the
  global generator only the first time it runs, which a resumed process would repeat).
* Loading under torch's weights-only unpickler (:class:`ResumableRunner`): MMEngine's
  checkpoints hold its message hub (``HistoryBuffer`` with NumPy values and the buffer's
  statistics methods). The explicit allow-list below is active only while a run reloads
  its own checkpoint; safety stays on for every other load.

A resumed run reproduces the uninterrupted one exactly on CPU, with any number of loader
workers: every sample's augmentation is drawn from generators seeded by its position in
the sampler's stream (:mod:`benchmark.data.sample_stream`), so loading (also the batches
MMEngine loads again to skip to the resume point) never consumes the training process's
random numbers.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import Runner
from mmseg.registry import HOOKS

try:  # NumPy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

#: Globals an MMEngine checkpoint of this suite needs beyond tensors and containers:
#: the message hub's buffers and NumPy values, and ``getattr`` for the buffers' bound
#: statistics methods (``HistoryBuffer.min`` ...).
CHECKPOINT_GLOBALS = [HistoryBuffer, getattr, np.ndarray, np.dtype, _reconstruct, scalar,
                      *(getattr(np.dtypes, name) for name in np.dtypes.__all__)]

CHECKPOINT_LINK = "last_checkpoint"


class ResumableRunner(Runner):
    """MMEngine's Runner, reloading its own checkpoints with an explicit allow-list."""

    def resume(self, filename: str, *args, **kwargs) -> None:
        with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
            super().resume(filename, *args, **kwargs)


def resumable_checkpoint(work_dir: Path) -> tuple[Path, int] | None:
    """The checkpoint an interrupted run left in ``work_dir`` and its iteration, if any."""
    link = Path(work_dir) / CHECKPOINT_LINK
    if not link.is_file():
        return None
    path = Path(link.read_text().strip())
    if not path.is_file() or not path.stem.startswith("iter_"):
        return None
    return path, int(path.stem[len("iter_"):])


@HOOKS.register_module()
class ResumeCheckpointHook(Hook):
    """Save a checkpoint every ``interval`` iterations, at the start of an iteration.

    Only the newest is kept; ``last_checkpoint`` in the work dir names it (MMEngine's
    convention). The final iteration is not saved here (MMEngine's ``CheckpointHook``
    saves the final model), and the resume checkpoint is deleted when training ends.

    Args:
        interval: Iterations between checkpoints.
    """

    priority = "VERY_LOW"

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self._started_at = 0
        self._latest: Path | None = None  # this run's resume checkpoint, if any

    def before_train(self, runner) -> None:
        self._started_at = runner.iter  # the checkpoint a resumed run started from exists
        found = resumable_checkpoint(Path(runner.work_dir)) if runner.iter else None
        self._latest = found[0] if found else None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        step = runner.iter
        if step == self._started_at or step % self.interval or step >= runner.max_iters:
            return
        work_dir = Path(runner.work_dir)
        previous = resumable_checkpoint(work_dir)
        name = f"iter_{step}.pth"
        runner.save_checkpoint(str(work_dir), name, save_optimizer=True,
                               save_param_scheduler=True)
        (work_dir / CHECKPOINT_LINK).write_text(str(work_dir / name))
        if previous is not None and previous[0].name != name:
            previous[0].unlink(missing_ok=True)
        self._latest = work_dir / name

    def after_train(self, runner) -> None:
        final = resumable_checkpoint(Path(runner.work_dir))
        if self._latest is not None and (final is None or final[0] != self._latest):
            self._latest.unlink(missing_ok=True)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Keep the random streams of training identical across a resume."""

    priority = "VERY_HIGH"

    def __init__(self) -> None:
        self._pending: dict | None = None
        self._outside_validation: dict | None = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["random_state"] = _capture()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get("random_state")

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._pending is not None:
            _restore(self._pending)
            self._pending = None

    def before_val_epoch(self, runner) -> None:
        self._outside_validation = _capture()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._outside_validation is not None:
            _restore(self._outside_validation)
            self._outside_validation = None


def _capture() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
