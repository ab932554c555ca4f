"""The semi-supervised segmentor base that every method plugin subclasses.

Design (after mmdetection 3.x's ``SemiBaseDetector``): the student is an ordinary
MMSeg ``EncoderDecoder`` built from the shared model config; an optional EMA teacher
is a copy of it, kept in eval mode and updated by
:class:`~benchmark.engine.TeacherEMAHook`. A method overrides :meth:`compute_losses`
and uses the small helpers here (logits at input resolution, the supervised loss, a
no-grad teacher pass). Prediction is routed to the network the protocol evaluates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor, nn

from benchmark.data.preprocessor import UnlabeledBatch
from benchmark.models.ema import BUFFER_POLICIES, ema_update

IGNORE_INDEX = 255


@dataclass
class SemiBatch:
    """One training batch as a method sees it.

    Attributes:
        labeled: Normalised labeled crops ``[B_l, 3, S, S]``.
        labeled_samples: Their ``SegDataSample`` s (with ``gt_sem_seg``).
        unlabeled: The unlabeled batch (no labels), or None for supervised-only.
        unlabeled_mix: The mix-partner batch, or None.
        oracle_gt: Hidden ground truth of the unlabeled branches (``{'unlabeled': [B, S,
            S], 'unlabeled_mix': ...}``), given *only* to methods that set
            ``uses_hidden_gt = True`` (oracle diagnostics such as SOP's GT-target oracle);
            None for every normal method.
    """

    labeled: Tensor
    labeled_samples: SampleList
    unlabeled: UnlabeledBatch | None = None
    unlabeled_mix: UnlabeledBatch | None = None
    oracle_gt: dict[str, Tensor] | None = None

    @property
    def labeled_gt(self) -> Tensor:
        """Labels of the labeled crops, ``[B_l, S, S]`` long, 255 = ignore."""
        return torch.stack([s.gt_sem_seg.data[0] for s in self.labeled_samples]).long()


def check_loss_keys(losses: dict, owner: str) -> None:
    """Reject loss keys MMEngine would silently mis-handle.

    MMEngine sums every output whose key contains ``loss``: a ``sup.``/``unsup.`` key
    without it would train nothing, a ``diag.`` key with it would be trained on, and a key
    without the prefix would escape the protocol's unsupervised warm-up. MMSeg's own
    ``*acc_seg`` accuracy scalar of the supervised loss is allowed.

    Args:
        losses: The method's output.
        owner: Name of the method class, for the message.

    Raises:
        ValueError: Naming the first bad key and the rule.
    """
    for key in losses:
        branch, _, name = key.partition(".")
        # MMSeg's decode-head loss also returns its pixel accuracy ``acc_seg`` (logged)
        good = (branch in ("sup", "unsup") and ("loss" in name or name.endswith("acc_seg"))) \
            or (branch == "diag" and name and "loss" not in name)
        if not good:
            raise ValueError(
                f"{owner} returned the key '{key}'; method outputs must be named "
                "'sup.loss_*' or 'unsup.loss_*' (summed into the training loss) or 'diag.*' "
                "without 'loss' (logged only)")


def check_loss_values(losses: dict, owner: str) -> None:
    """Reject outputs MMEngine would silently average: each must be one number.

    MMEngine's ``parse_losses`` takes the mean of every tensor and the sum of every list,
    so a per-sample loss (shape ``[B]``) or a per-pixel map would train on its average
    without a word, whatever reduction the method meant. A value is accepted when it is
    a Python number or a tensor of one element (``[]``, or MMSeg's ``[1]`` accuracy).

    Args:
        losses: The method's output.
        owner: Name of the method class, for the message.

    Raises:
        ValueError: Naming the first key that is not a scalar and its shape.
    """
    for key, value in losses.items():
        if isinstance(value, Tensor):
            if value.numel() == 1:
                continue
            found = f"a tensor of shape {list(value.shape)}"
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            continue
        else:
            found = f"a {type(value).__name__}"
        raise ValueError(f"{owner} returned '{key}' as {found}; every output must be a "
                         "scalar: reduce it in the method (e.g. .mean() over the batch)")


def check_loss_terms(losses: dict, owner: str) -> None:
    """Check a method's output: its keys (:func:`check_loss_keys`), then its values.

    Raises:
        ValueError: Naming the first bad key and the rule it breaks.
    """
    check_loss_keys(losses, owner)
    check_loss_values(losses, owner)


class SemiSegmentor(BaseSegmentor):
    """Base of all method plugins: student, optional EMA teacher, routed prediction.

    Args:
        segmentor: Config of the student network (an MMSeg ``EncoderDecoder``).
        data_preprocessor: Config of the data preprocessor.
        ema_momentum: Teacher weight ``w`` of the EMA (``teacher <- w teacher + (1-w)
            student``); None builds no teacher.
        ema_buffers: BatchNorm buffer policy of the EMA: ``"ema"``, ``"copy"`` or
            ``"skip"`` (see :func:`~benchmark.models.ema_update`).
        ema_warmup: Mean Teacher's warm-up of the EMA weight, ``w_t = min(1 - 1/(t+1), w)``
            at 0-based iteration ``t`` (Mean Teacher's and U2PL's code, UniMatch V2), so the
            teacher follows the student closely while the student changes fastest and a
            randomly initialised head is not averaged in for ``1/(1-w)`` iterations. On by
            default for every EMA method (docs/methods/README.md#ema-teacher).
        ema_reference_iters: Protocol setting for schedules much shorter than the papers':
            when set, the time constant ``1/(1-w)`` of every EMA method is scaled by
            ``T / ema_reference_iters`` for a run of ``T`` iterations, so it keeps the same
            fraction of the schedule as in a paper schedule of ``ema_reference_iters``
            iterations. None (the real protocols) keeps ``w``.
        teacher_train_mode: Run the teacher in train mode (BN batch statistics, as in
            TorchSemiSeg's mean teacher). Default False: the teacher stays in eval mode
            even when MMEngine calls ``model.train()`` every iteration.
        predict_on: ``"student"`` or ``"teacher"``: the network evaluated.
        unsup_warmup_ratio: Protocol-level ramp of every unsupervised term: losses
            named ``unsup.*`` are scaled by ``min(1, t / (ratio * T))`` at iteration
            ``t`` of ``T`` (told by :class:`~benchmark.engine.TrainProgressHook`). 0 (the
            default, and every real protocol) disables it; the built-in protocol, whose
            backbone starts from random init, sets it so that no method learns from
            pseudo-labels of an untrained network.
        init_cfg: MMEngine init config.

    Attributes:
        uses_hidden_gt: Class or instance flag; True only for oracle diagnostics that
            are allowed to read the unlabeled ground truth (``SemiBatch.oracle_gt``).
    """

    uses_hidden_gt: bool = False

    def __init__(self, segmentor: ConfigType, data_preprocessor: OptConfigType = None,
                 ema_momentum: float | None = None, ema_buffers: str = "ema",
                 ema_warmup: bool = True, ema_reference_iters: int | None = None,
                 teacher_train_mode: bool = False, predict_on: str = "student",
                 unsup_warmup_ratio: float = 0.0, init_cfg: OptConfigType = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if ema_buffers not in BUFFER_POLICIES:
            raise ValueError(f"ema_buffers must be one of {BUFFER_POLICIES}, got {ema_buffers}")
        if predict_on not in ("student", "teacher"):
            raise ValueError(f"predict_on must be 'student' or 'teacher', got {predict_on}")
        if predict_on == "teacher" and ema_momentum is None:
            raise ValueError("predict_on='teacher' needs a teacher: set ema_momentum")
        self.student = MODELS.build(segmentor)
        self.teacher: nn.Module | None = None
        if ema_momentum is not None:
            self.teacher = copy.deepcopy(self.student)
            self.teacher.requires_grad_(False)
        if ema_reference_iters is not None and ema_reference_iters < 1:
            raise ValueError(f"ema_reference_iters must be >= 1, got {ema_reference_iters}")
        self.ema_momentum = ema_momentum
        self.ema_buffers = ema_buffers
        self.ema_warmup = ema_warmup
        self.ema_reference_iters = ema_reference_iters
        self.teacher_train_mode = teacher_train_mode
        self.predict_on = predict_on
        if not 0.0 <= unsup_warmup_ratio <= 1.0:
            raise ValueError(f"unsup_warmup_ratio must be in [0, 1], got {unsup_warmup_ratio}")
        self.unsup_warmup_ratio = unsup_warmup_ratio
        self.train_iteration = 0
        self.max_train_iterations: int | None = None
        self._reported_labels: dict[str, Tensor] = {}

    # ----------------------------------------------------------------- teacher
    def train(self, mode: bool = True) -> SemiSegmentor:
        """Set train mode; the teacher follows only if ``teacher_train_mode``."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.train(mode and self.teacher_train_mode)
        return self

    @torch.no_grad()
    def init_teacher(self) -> None:
        """Copy the student into the teacher (called at iteration 0)."""
        if self.teacher is not None:
            self.teacher.load_state_dict(self.student.state_dict())

    def schedule_momentum(self) -> float:
        """The EMA weight after the protocol's time-constant scaling (before the warm-up).

        With ``ema_reference_iters = R`` and a run of ``T`` iterations, the time constant
        ``tau = 1/(1-w)`` becomes ``tau * T / R`` and the weight ``max(0, 1 - 1/(tau T/R))``.
        """
        momentum = float(self.ema_momentum)
        if (self.ema_reference_iters is None or not self.max_train_iterations
                or momentum >= 1.0):
            return momentum
        time_constant = self.max_train_iterations / (self.ema_reference_iters * (1 - momentum))
        return max(0.0, 1.0 - 1.0 / time_constant)

    def momentum_at(self, iteration: int) -> float:
        """EMA teacher weight applied after the optimizer step of 0-based ``iteration``.

        ``min(1 - 1/(iteration+1), w)`` with the warm-up (the first update copies the
        student), else ``w``; ``w`` is :meth:`schedule_momentum`.
        """
        momentum = self.schedule_momentum()
        if self.ema_warmup:
            momentum = min(1.0 - 1.0 / (iteration + 1), momentum)
        return momentum

    def ema_policy(self) -> dict | None:
        """The teacher's EMA settings as recorded with a run (None without a teacher)."""
        if self.teacher is None:
            return None
        return {"momentum": self.ema_momentum, "buffers": self.ema_buffers,
                "warmup": "min(1 - 1/(t+1), w)" if self.ema_warmup else None,
                "reference_iters": self.ema_reference_iters,
                "effective_momentum": self.schedule_momentum(),
                "teacher_train_mode": self.teacher_train_mode}

    def update_teacher(self, iteration: int) -> None:
        """One EMA step (called after every optimizer step)."""
        if self.teacher is not None:
            ema_update(self.teacher, self.student, self.momentum_at(iteration),
                       self.ema_buffers)

    # ------------------------------------------------------------ forward helpers
    @staticmethod
    def raw_logits(network: nn.Module, inputs: Tensor) -> Tensor:
        """Decode-head output of ``network`` (stride of the head, e.g. 1/4)."""
        return network.decode_head(network.extract_feat(inputs))

    @staticmethod
    def upsample(network: nn.Module, raw: Tensor, size: tuple[int, int]) -> Tensor:
        """Bilinearly resize head logits to ``size`` (head's ``align_corners``)."""
        return F.interpolate(raw, size=size, mode="bilinear",
                             align_corners=network.decode_head.align_corners)

    def logits(self, network: nn.Module, inputs: Tensor) -> Tensor:
        """Logits of ``network`` at input resolution, ``[B, C, H, W]``."""
        return self.upsample(network, self.raw_logits(network, inputs), inputs.shape[-2:])

    @torch.no_grad()
    def teacher_logits(self, inputs: Tensor) -> Tensor:
        """Teacher logits at input resolution, without gradient."""
        if self.teacher is None:
            raise RuntimeError(f"{type(self).__name__} has no teacher (ema_momentum=None)")
        return self.logits(self.teacher, inputs)

    def supervised_loss(self, network: nn.Module, raw_labeled: Tensor,
                        labeled_samples: SampleList, prefix: str = "sup.") -> dict[str, Tensor]:
        """The decode head's own loss (MMSeg ``loss_by_feat``) on the labeled part.

        Uses the protocol's ``loss_decode`` (mean CE over non-ignored pixels) and
        sampler (OHEM on Cityscapes) from the model config.
        """
        losses = network.decode_head.loss_by_feat(raw_labeled, labeled_samples)
        return {f"{prefix}{key}": value for key, value in losses.items()}

    # ------------------------------------------------------------------- loss
    def set_train_progress(self, iteration: int, max_iterations: int) -> None:
        """Tell the model the current iteration (0-based) of ``max_iterations``."""
        self.train_iteration = iteration
        self.max_train_iterations = max_iterations

    def unsup_weight_scale(self) -> float:
        """Factor applied to every ``unsup.*`` loss now (1 without a warm-up)."""
        if self.unsup_warmup_ratio == 0.0 or not self.max_train_iterations:
            return 1.0
        warmup = self.unsup_warmup_ratio * self.max_train_iterations
        return min(1.0, (self.train_iteration + 1) / warmup)

    def scale_unsupervised(self, losses: dict[str, Tensor]) -> dict[str, Tensor]:
        """Check the method's keys and values, then apply the warm-up to ``unsup.*``."""
        check_loss_terms(losses, type(self).__name__)
        scale = self.unsup_weight_scale()
        if scale == 1.0:
            return losses
        return {k: v * scale if k.startswith("unsup.") else v for k, v in losses.items()}

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        """Return the method's losses; keys ``sup.loss_*`` / ``unsup.loss_*``.

        Keys containing ``loss`` are summed by MMEngine; other keys are logged only.
        """
        raise NotImplementedError

    def report_pseudo_labels(self, name: str, labels: Tensor) -> None:
        """Report ``[B_u, S, S]`` labels predicted for the (unmixed) unlabeled batch.

        After the loss, the base compares them with the hidden ground truth of the
        unlabeled images (where the dataset has one) and logs ``diag.<name>_acc``. The
        method itself never sees that ground truth.
        """
        self._reported_labels[name] = labels.detach()

    def loss(self, inputs: dict, data_samples: dict) -> dict[str, Tensor]:
        """Build the :class:`SemiBatch`, compute the method's losses, add diagnostics."""
        hidden = data_samples.get("hidden_gt", {})
        batch = SemiBatch(
            labeled=inputs["labeled"],
            labeled_samples=data_samples["labeled"],
            unlabeled=inputs.get("unlabeled"),
            unlabeled_mix=inputs.get("unlabeled_mix"),
            oracle_gt=hidden if self.uses_hidden_gt else None,
        )
        self._reported_labels = {}
        losses = self.scale_unsupervised(self.compute_losses(batch))
        hidden_gt = hidden.get("unlabeled")
        for name, labels in self._reported_labels.items():
            if hidden_gt is not None:
                known = hidden_gt != IGNORE_INDEX
                correct = (labels == hidden_gt) & known
                losses[f"diag.{name}_acc"] = correct.sum().float() / known.sum().clamp(min=1)
        self._reported_labels = {}
        return losses

    # ------------------------------------------------------- inference routing
    @property
    def eval_network(self) -> nn.Module:
        """The network the protocol evaluates (``predict_on``)."""
        return self.teacher if self.predict_on == "teacher" else self.student

    def predict(self, inputs: Tensor, data_samples: SampleList | None = None) -> SampleList:
        return self.eval_network.predict(inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples: SampleList | None = None) -> Tensor:
        return self.eval_network._forward(inputs, data_samples)

    def extract_feat(self, inputs: Tensor) -> list[Tensor]:
        return self.eval_network.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        return self.eval_network.encode_decode(inputs, batch_img_metas)
