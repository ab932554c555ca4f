"""Offline self-training as an MMEngine train loop, with a per-round poly schedule.

Why a loop and not hooks: a round boundary changes what an iteration *is* (a new
dataset with new pseudo-labels and batch composition, possibly a re-initialised
student and a fresh optimizer state), and MMEngine's ``IterBasedTrainLoop`` owns the
dataloader iterator. A hook would have to reach into the loop to swap its data, which
is fragile; a loop subclass does it in one place and keeps everything else MMEngine's:
``run_iter``, validation, hooks, checkpoints and resume. The learning rate stays an
MMEngine parameter scheduler (:class:`RoundPolyLR`), closed-form in the global
iteration, so resuming anywhere restores it exactly.
"""

from __future__ import annotations

import copy
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from mmengine.dist import barrier, is_main_process
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator
from mmseg.registry import LOOPS, PARAM_SCHEDULERS

from benchmark.errors import BenchmarkError
from benchmark.self_training.data import round_pipeline
from benchmark.self_training.labeling import LabelingSettings, PseudoLabeler, RoundLabels

INITIAL_STUDENT = "initial_student.pth"


@dataclass
class RoundSpec:
    """One round of a self-training schedule (an entry of the loop's ``rounds``).

    Attributes:
        length: Iterations as a fraction of the protocol's ``max_iters`` (1.0 = one full
            schedule; the built-in protocol splits one schedule between the rounds).
        lr_factor: The round's poly decay starts at ``lr_0·lr_factor``.
        labeled_batch: Labeled crops per iteration.
        unlabeled_batch: Pseudo-labeled crops per iteration (0: supervised round, which
            must be round 0 only).
        scale_range: Random scale range of both branches (``RandomLongSideResize``);
            None keeps the protocol's.
        extra_transforms: Transforms inserted after the resize in both branches.
        reinit_student: Start the round from the initial weights (fresh optimizer state)
            instead of from the previous round's model.
        selection: Settings passed to the method's pseudo-label rule (e.g. ``alpha``).
    """

    length: float
    lr_factor: float = 1.0
    labeled_batch: int = 8
    unlabeled_batch: int = 0
    scale_range: tuple[float, float] | None = None
    extra_transforms: list[dict] = field(default_factory=list)
    reinit_student: bool = False
    selection: dict = field(default_factory=dict)


def split_iterations(max_iters: int, lengths: Sequence[float]) -> list[int]:
    """Round lengths in iterations: ``round(cumulative fraction · max_iters)`` differences.

    Rounding the cumulative boundaries keeps the total at ``round(Σ lengths · max_iters)``.
    """
    bounds, total = [0], 0.0
    for length in lengths:
        total += length
        bounds.append(int(round(total * max_iters)))
    iterations = [b - a for a, b in zip(bounds, bounds[1:])]
    if any(n < 1 for n in iterations):
        raise BenchmarkError(f"a self-training round would have no iteration ({iterations} of "
                             f"max_iters={max_iters}); use more iterations")
    return iterations


def labeling_settings(labeling: dict | None, labeled_pipeline: list[dict]) -> LabelingSettings:
    """The loop's ``labeling`` config; a sliding window defaults to the training crop."""
    settings = dict(labeling or {})
    if settings.get("mode", "slide") == "slide" and settings.get("window") is None:
        crops = [step["crop_size"] for step in labeled_pipeline if step.get("type") == "RandomCrop"]
        if not crops:
            raise BenchmarkError("no RandomCrop in the labeled pipeline; set labeling.window")
        size = crops[0]
        settings["window"] = (size, size) if isinstance(size, int) else tuple(size)
    return LabelingSettings(**settings)


def round_loader_cfg(source: dict, spec: RoundSpec, labels: RoundLabels | None) -> dict:
    """Dataloader config of one round, derived from the protocol's train dataloader.

    Args:
        source: The protocol's train dataloader config (a ``SemiSegDataset``).
        spec: The round.
        labels: The round's pseudo-labels; None for a labeled-only round.
    """
    source_set = source["dataset"]
    base = source_set["labeled"]["pipeline"]
    labeled = copy.deepcopy(source_set["labeled"])
    labeled["pipeline"] = round_pipeline(base, spec.scale_range, spec.extra_transforms)
    cfg = copy.deepcopy(source)
    if labels is None:
        cfg["dataset"] = dict(type="SemiSegDataset", labeled=labeled, labeled_only=True)
        cfg["batch_size"] = spec.labeled_batch
        return cfg
    pseudo = copy.deepcopy(source_set["unlabeled"])
    pseudo.update(type="PseudoLabelListDataset", label_folder=str(labels.folder),
                  pipeline=round_pipeline(base, spec.scale_range, spec.extra_transforms,
                                          pseudo_labeled=True, entropy=labels.has_entropy))
    cfg["dataset"] = dict(type="PseudoLabeledDataset", labeled=labeled, pseudo_labeled=pseudo,
                          labeled_per_item=spec.labeled_batch // spec.unlabeled_batch)
    cfg["batch_size"] = spec.unlabeled_batch
    return cfg


class RoundPolyParamScheduler(_ParamScheduler):
    """Poly decay restarted at every round: ``f_k·(1 - t'/(L_k - 1))^power``.

    ``t'`` is the iteration inside round ``k`` of length ``L_k`` starting at ``lr_0·f_k``,
    the per-round form of MMEngine's ``PolyLR`` (which reaches ``eta_min`` at its last
    step). The value is closed-form in the global step.

    Args:
        optimizer: The wrapped optimizer.
        param_name: Scheduled parameter (``lr``).
        rounds: ``(start, length, factor)`` per round, in order.
        power: Poly power.
        eta_min: Value at the end of every round.
    """

    def __init__(self, optimizer, param_name: str, rounds: Sequence[Sequence[float]],
                 power: float = 0.9, eta_min: float = 0.0, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = False, verbose: bool = False) -> None:
        self.rounds = [(int(s), int(n), float(f)) for s, n, f in rounds]
        self.power = power
        self.eta_min = eta_min
        super().__init__(optimizer, param_name, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    def factor_at(self, step: int) -> float:
        """Multiplier of ``lr_0 - eta_min`` at global ``step``."""
        start, length, factor = self.rounds[0]
        for candidate in self.rounds:
            if candidate[0] <= step:
                start, length, factor = candidate
        progress = min(max(step - start, 0) / max(length - 1, 1), 1.0)
        return factor * (1.0 - progress) ** self.power

    def _get_value(self) -> list[float]:
        factor = self.factor_at(self.last_step)
        return [self.eta_min + (base - self.eta_min) * factor for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class RoundPolyLR(LRSchedulerMixin, RoundPolyParamScheduler):
    """Learning-rate form of :class:`RoundPolyParamScheduler`."""


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@LOOPS.register_module()
class SelfTrainingLoop(IterBasedTrainLoop):
    """Round 0 on labeled data, then per round: label offline, train on both.

    The loop takes the protocol's train dataloader config (a ``SemiSegDataset``) as the
    *source* of the labeled and unlabeled split lists and the labeled pipeline, and
    builds each round's dataloader from it. Before round ``k >= 1`` the model as round
    ``k-1`` left it labels every unlabeled image (:class:`PseudoLabeler`, results under
    ``<work_dir>/self_training/round<k>``; a resumed run reuses them, a run started from
    iteration 0 deletes any left by an earlier run in the same work dir). The protocol's
    single ``PolyLR`` becomes a :class:`RoundPolyLR` with the same power and minimum.

    Args:
        runner: The MMEngine runner.
        dataloader: The protocol's train dataloader config.
        max_iters: The protocol's schedule ``T``; round ``k`` trains ``length_k·T``
            iterations.
        rounds: :class:`RoundSpec` fields per round.
        labeling: :class:`~benchmark.self_training.LabelingSettings` fields; ``window``
            None means the training crop (the labeled pipeline's ``RandomCrop``).
        val_begin: As in ``IterBasedTrainLoop``.
        val_interval: As in ``IterBasedTrainLoop``.
        dynamic_intervals: As in ``IterBasedTrainLoop``.
    """

    def __init__(self, runner, dataloader: dict, max_iters: int, rounds: Sequence[dict],
                 labeling: dict | None = None, val_begin: int = 1, val_interval: int = 1000,
                 dynamic_intervals=None) -> None:
        if not isinstance(dataloader, dict):
            raise BenchmarkError("SelfTrainingLoop needs the train dataloader as a config")
        self.source = copy.deepcopy(dataloader)
        self.rounds = [RoundSpec(**spec) for spec in rounds]
        self._check_rounds()
        self.round_iters = split_iterations(max_iters, [r.length for r in self.rounds])
        self.round_starts = [sum(self.round_iters[:k]) for k in range(len(self.rounds))]
        super().__init__(runner, round_loader_cfg(self.source, self.rounds[0], None),
                         sum(self.round_iters), val_begin=val_begin, val_interval=val_interval,
                         dynamic_intervals=dynamic_intervals)
        source_set = self.source["dataset"]
        settings = labeling_settings(labeling, source_set["labeled"]["pipeline"])
        self.labeler = PseudoLabeler(Path(runner.work_dir) / "self_training",
                                     source_set["labeled"], source_set["unlabeled"], settings)
        self.active_round = 0
        runner.param_schedulers = self._round_schedule(runner.param_schedulers)

    # ------------------------------------------------------------------ set-up
    def _check_rounds(self) -> None:
        if not self.rounds:
            raise BenchmarkError("SelfTrainingLoop needs at least one round")
        if self.rounds[0].unlabeled_batch:
            raise BenchmarkError("round 0 trains on labeled data only (unlabeled_batch=0)")
        for k, spec in enumerate(self.rounds[1:], start=1):
            if spec.unlabeled_batch < 1 or spec.labeled_batch % spec.unlabeled_batch:
                raise BenchmarkError(
                    f"round {k}: unlabeled_batch must be >= 1 and divide labeled_batch "
                    f"(got {spec.labeled_batch} + {spec.unlabeled_batch})")

    def _round_schedule(self, schedulers) -> list[dict]:
        """Replace the protocol's single ``PolyLR`` by the per-round schedule."""
        configs = schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]
        if len(configs) != 1 or not isinstance(configs[0], dict) or \
                configs[0].get("type") != "PolyLR":
            raise BenchmarkError("SelfTrainingLoop expects the protocol's param_scheduler to "
                                 f"be one PolyLR, got {schedulers}")
        poly = configs[0]
        rounds = [(start, length, spec.lr_factor) for start, length, spec in
                  zip(self.round_starts, self.round_iters, self.rounds)]
        return [dict(type="RoundPolyLR", rounds=rounds, power=poly.get("power", 1.0),
                     eta_min=poly.get("eta_min", 0.0), begin=0, end=self.max_iters,
                     by_epoch=False)]

    # ------------------------------------------------------------------- rounds
    def round_at(self, iteration: int) -> int:
        """The round that trains global ``iteration`` (0-based)."""
        return max(k for k, start in enumerate(self.round_starts) if start <= iteration)

    def _pseudo_labels(self, round_index: int) -> RoundLabels:
        """Load the round's pseudo-labels, or make them with the current model."""
        labels = self.labeler.load(round_index)
        if labels is None and is_main_process():
            if self._iter != self.round_starts[round_index]:
                raise BenchmarkError(
                    f"resuming inside round {round_index} but its pseudo-labels are missing "
                    f"from {self.labeler.folder(round_index)}; restart the run")
            model = _unwrap(self.runner.model)
            print_log(f"self-training: labelling the unlabeled set for round {round_index}",
                      logger="current", level=logging.INFO)
            spec = self.rounds[round_index]
            seed = (self.runner.seed or 0) * 1000 + round_index
            self.labeler.generate(round_index, model, model.select_pseudo_labels,
                                  spec.selection, seed)
        barrier()
        labels = self.labeler.load(round_index)
        if labels is None:
            raise BenchmarkError(f"pseudo-labels of round {round_index} were not written")
        return labels

    def _start_fresh(self) -> None:
        """At iteration 0: drop pseudo-labels of an earlier run in this work dir.

        They were made by another run's teachers; only a resumed run reuses its rounds.
        Saves the initial student weights when a round re-initialises from them.
        """
        if self._iter == 0 and is_main_process():
            if self.labeler.root.exists():
                shutil.rmtree(self.labeler.root)
            if any(r.reinit_student for r in self.rounds):
                self.labeler.root.mkdir(parents=True)
                torch.save(_unwrap(self.runner.model).student.state_dict(),
                           self.labeler.root / INITIAL_STUDENT)
        barrier()

    def _reinitialize_student(self) -> None:
        path = self.labeler.root / INITIAL_STUDENT
        if not path.is_file():
            raise BenchmarkError(f"initial student weights {path} are missing; restart the run")
        model = _unwrap(self.runner.model)
        model.student.load_state_dict(torch.load(path, map_location="cpu"))
        self.runner.optim_wrapper.optimizer.state.clear()

    def _round_diagnostics(self, up_to: int) -> dict[str, float]:
        values = {}
        for k in range(1, up_to + 1):
            labels = self.labeler.load(k)
            if labels is not None:
                values.update({f"round{k}_{name}": float(v)
                               for name, v in labels.diagnostics.items()})
        return values

    def enter_round(self, round_index: int) -> None:
        """Prepare round ``round_index``: pseudo-labels, student, dataloader."""
        spec = self.rounds[round_index]
        model = _unwrap(self.runner.model)
        labels = self._pseudo_labels(round_index) if spec.unlabeled_batch else None
        if spec.reinit_student and self._iter == self.round_starts[round_index]:
            self._reinitialize_student()
        diff_rank_seed = self.runner._randomness_cfg.get("diff_rank_seed", False)
        self.dataloader = self.runner.build_dataloader(
            round_loader_cfg(self.source, spec, labels), seed=self.runner.seed,
            diff_rank_seed=diff_rank_seed)
        self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)
        self.active_round = round_index
        model.current_round = round_index
        model.round_diagnostics = self._round_diagnostics(round_index)
        start = self.round_starts[round_index]
        end = start + self.round_iters[round_index]
        print_log(f"self-training: round {round_index} trains iterations {start}..{end - 1}",
                  logger="current", level=logging.INFO)

    def run(self):
        """Train every round; a resumed run continues in the round of its iteration."""
        self.runner.call_hook("before_train")
        self.runner.call_hook("before_train_epoch")
        self._start_fresh()
        if self._iter > 0:
            self.active_round = -1  # resumed: rebuild the data of the current round
        while self._iter < self._max_iters and not self.stop_training:
            round_index = self.round_at(self._iter)
            if round_index != self.active_round:
                self.enter_round(round_index)
            self.runner.model.train()
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook("after_train_epoch")
        self.runner.call_hook("after_train")
        return self.runner.model
