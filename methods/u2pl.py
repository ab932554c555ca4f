"""U2PL, using unreliable pseudo-labels (notes and decisions: docs/methods/u2pl.md)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.dist import all_gather, get_world_size
from torch import Tensor, nn

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method
from methods.common import mix_maps, pseudo_label_targets
from methods.ops.memory_bank import ClassMemoryBank
from methods.ops.u2pl import (
    CONTRAST_KINDS,
    IGNORE_INDEX,
    EntropySplit,
    alpha_schedule,
    class_contrastive_loss,
    class_ranks,
    entropy_split,
    negative_masks,
    next_image_partner,
    pixel_entropy,
    reliable_pseudo_label_loss,
    u2pl_cutmix_boxes,
)

# decode head type -> its module whose input is the decoder's last feature map: the
# concatenated ASPP and low-level features (DeepLabv3+), the fused maps (DPT: its last 3x3)
FUSION_MODULES = {"OfficialDeepLabV3PlusHead": "fuse",
                  "DepthwiseSeparableASPPHead": "sep_bottleneck",
                  "TimmDPTHead": "project"}


class RepresentationHead(nn.Sequential):
    """U2PL's representation head: two [3x3 conv, BN, ReLU, Dropout2d] stages and a 1x1 conv.

    Args:
        in_channels: Channels of the decoder features it reads.
        channels: Width of the head and of the representation.
        norm_cfg: Normalisation layer config (the segmentor's).
        dropout: Channel dropout probability after each of the first two stages.
    """

    def __init__(self, in_channels: int, channels: int, norm_cfg: dict,
                 dropout: float = 0.1) -> None:
        super().__init__(
            ConvModule(in_channels, channels, 3, padding=1, bias=True, norm_cfg=norm_cfg),
            nn.Dropout2d(dropout),
            ConvModule(channels, channels, 3, padding=1, bias=True, norm_cfg=norm_cfg),
            nn.Dropout2d(dropout),
            nn.Conv2d(channels, channels, 1),
        )


def _nearest(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of ``[B, H, W]`` maps (labels or masks), dtype kept."""
    resized = F.interpolate(maps.unsqueeze(1).float(), size=size, mode="nearest")
    return resized.squeeze(1).to(maps.dtype)


def gather_rows(rows: Tensor) -> Tensor:
    """Rows of every process concatenated in rank order (``rows`` itself on one process).

    The official code gathers each class's negatives from all GPUs before enqueueing them,
    so every process holds the same banks.
    """
    if get_world_size() == 1:
        return rows
    sizes = [int(n) for n in all_gather(torch.tensor([rows.shape[0]], device=rows.device))]
    padded = rows.new_zeros(max(max(sizes), 1), *rows.shape[1:])
    padded[: rows.shape[0]] = rows
    return torch.cat([part[:n] for part, n in zip(all_gather(padded), sizes)])


@register_method(
    "u2pl",
    description="U2PL: EMA-teacher CutMix on low-entropy pseudo-labels; unreliable pixels "
                "as class-wise contrastive negatives",
    paper="Wang et al., Semi-Supervised Semantic Segmentation Using Unreliable Pseudo-Labels, "
          "CVPR 2022 (Haochen-Wang409/U2PL)",
)
class U2PL(SemiSegmentor):
    """U2PL: mean teacher with CutMix, entropy-filtered pseudo-labels and contrastive negatives.

    The EMA teacher labels the weak unlabeled crops; image, pseudo-label and padding are
    CutMix'd (U2PL's half-area box, partner ``b + 1``, whole batch with probability 0.5). The
    teacher's entropy ``H`` on the mixed crops splits pixels with ``alpha_t = alpha_0 (1 -
    t/T)``: the ``alpha_t``% highest are *unreliable*, the ``alpha_t``% lowest *reliable*.
    Loss::

        L = L_s + eta * L_u + lambda_c * L_c

    ``L_u`` is the pseudo-label CE over the pixels below ``gamma_t = percentile(H, 100 -
    alpha_t)``, scaled by ``|V| / |K|`` as in the official code. ``L_c`` is InfoNCE (or the
    supplement's binary loss ``L_b``) at stride 4 on a representation head: per class ``c``,
    ``M`` anchors (student features of labeled or reliable pixels of class ``c`` with teacher
    ``p_c > delta_p``), the positive key (mean teacher feature of the class) and ``N``
    negatives per anchor from the class's FIFO bank of teacher features of labeled pixels
    where ``c`` is wrong but in the top ``r_l``, and unreliable pixels where ``c`` ranks in
    ``[r_l, r_h)``. The first ``warm_start_ratio`` of the schedule trains ``L_s`` only and
    evaluates the student; at its end the teacher is copied from the student and its EMA
    warm-up restarts.

    Args:
        unsup_weight: ``eta``.
        contrast_weight: ``lambda_c``.
        contrast_loss: ``"infonce"`` (``L_c``) or ``"binary"`` (``L_b``).
        alpha_0: Initial percentage of unreliable (and of reliable) pixels.
        low_rank: ``r_l``.
        high_rank: ``r_h``.
        anchor_threshold: ``delta_p``.
        temperature: ``tau``.
        num_anchors: Anchors per class ``M``.
        num_negatives: Negatives per anchor ``N``.
        bank_size: Capacity of the memory bank of each class but class 0.
        bank_size_class0: Capacity of class 0's bank.
        rep_channels: Width of the representation head and of the banked features.
        feature_module: Submodule of the decode head whose input the representation head
            reads; None picks the head's fusion convolutions (:data:`FUSION_MODULES`,
            whose input is the concatenated ASPP and low-level features at stride 4:
            ``fuse`` of the official head, ``sep_bottleneck`` of MMSeg's; on the DPT
            network the input of its final ``project`` convolution).
        warm_start_ratio: Fraction of the schedule trained with ``L_s`` only (``E_0 / E``).
        cutmix_prob: Probability of CutMix for a batch.
        **kwargs: :class:`~benchmark.models.SemiSegmentor` arguments; the leaf config sets
            ``ema_momentum=0.99``, ``ema_buffers='ema'``, ``predict_on='teacher'``.
    """

    def __init__(self, unsup_weight: float = 1.0, contrast_weight: float = 0.1,
                 contrast_loss: str = "infonce", alpha_0: float = 20.0, low_rank: int = 3,
                 high_rank: int = 20, anchor_threshold: float = 0.3, temperature: float = 0.5,
                 num_anchors: int = 256, num_negatives: int = 50, bank_size: int = 30000,
                 bank_size_class0: int = 50000, rep_channels: int = 256,
                 feature_module: str | None = None, warm_start_ratio: float = 1 / 80,
                 cutmix_prob: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        if contrast_loss not in CONTRAST_KINDS:
            raise ValueError(f"contrast_loss must be one of {CONTRAST_KINDS}, got {contrast_loss}")
        if not 0 < low_rank < high_rank:
            raise ValueError(f"need 0 < low_rank < high_rank, got {low_rank}, {high_rank}")
        if not 0.0 <= warm_start_ratio < 1.0:
            raise ValueError(f"warm_start_ratio must be in [0, 1), got {warm_start_ratio}")
        if self.teacher is None:
            raise ValueError("U2PL needs its EMA teacher: set ema_momentum")
        self.unsup_weight = unsup_weight
        self.contrast_weight = contrast_weight
        self.contrast_loss = contrast_loss
        self.alpha_0 = alpha_0
        self.low_rank = low_rank
        self.high_rank = high_rank
        self.anchor_threshold = anchor_threshold
        self.temperature = temperature
        self.num_anchors = num_anchors
        self.num_negatives = num_negatives
        self.warm_start_ratio = warm_start_ratio
        self.cutmix_prob = cutmix_prob

        # representation head inside the decode head (its lr multiplier), student and teacher
        head = self.student.decode_head
        self.feature_module = feature_module or FUSION_MODULES.get(type(head).__name__)
        if self.feature_module is None:
            raise ValueError(f"no known fusion module in decode head {type(head).__name__}; "
                             f"set model.feature_module (known heads: {FUSION_MODULES})")
        features = head.get_submodule(self.feature_module)
        in_channels = next(m for m in features.modules() if isinstance(m, nn.Conv2d)).in_channels
        head.add_module("rep_head", RepresentationHead(in_channels, rep_channels, head.norm_cfg))
        self.teacher.decode_head.add_module("rep_head", copy.deepcopy(head.rep_head))
        self.teacher.requires_grad_(False)
        capacities = [bank_size_class0] + [bank_size] * (head.num_classes - 1)
        self.memory_bank = ClassMemoryBank(capacities, rep_channels)

    # ------------------------------------------------ warm start and EMA teacher
    def warm_start_iterations(self) -> int:
        """Iteration ``t_0`` of the first semi-supervised step (0 if the schedule is unknown)."""
        if not self.max_train_iterations:
            return 0
        return int(round(self.warm_start_ratio * self.max_train_iterations))

    def in_warm_start(self) -> bool:
        """True while only the supervised loss is trained."""
        return self.train_iteration < self.warm_start_iterations()

    def set_train_progress(self, iteration: int, max_iterations: int) -> None:
        """Record the iteration; at ``t_0`` the teacher starts as a copy of the student."""
        super().set_train_progress(iteration, max_iterations)
        start = self.warm_start_iterations()
        if start > 0 and iteration == start:
            self.init_teacher()

    def update_teacher(self, iteration: int) -> None:
        """EMA step counted from ``t_0`` (so the momentum warm-up restarts there); none before."""
        start = self.warm_start_iterations()
        if iteration >= start:
            super().update_teacher(iteration - start)

    @property
    def eval_network(self) -> nn.Module:
        """The student during the warm start, then the network ``predict_on`` names."""
        return self.student if self.in_warm_start() else super().eval_network

    # ------------------------------------------------------------- forward
    def logits_and_features(self, network: nn.Module, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Raw head logits (stride 4) and representations of ``inputs``, in one forward.

        A forward pre-hook reads the input of the decode head's ``feature_module``; the
        head itself runs unmodified.
        """
        head = network.decode_head
        captured: list[Tensor] = []
        hook = head.get_submodule(self.feature_module).register_forward_pre_hook(
            lambda _module, args: captured.append(args[0]))
        try:
            raw = head(network.extract_feat(inputs))
        finally:
            hook.remove()
        return raw, head.rep_head(captured[0])

    def _scalar(self, value: float, like: Tensor) -> Tensor:
        return torch.tensor(float(value), device=like.device)

    def warm_start_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        """``L_s`` only; zero-weighted unsupervised terms keep every parameter in the graph."""
        raw, rep = self.logits_and_features(self.student, batch.labeled)
        losses = self.supervised_loss(self.student, raw, batch.labeled_samples)
        losses["unsup.loss_pseudo"] = (raw * 0.0).sum()
        losses["unsup.loss_contrast"] = (rep * 0.0).sum()
        losses["diag.warm_start"] = self._scalar(1.0, raw)
        return losses

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        if self.in_warm_start():
            return self.warm_start_losses(batch)
        unlabeled = batch.unlabeled
        num_labeled = batch.labeled.shape[0]
        size = batch.labeled.shape[-2:]

        # teacher pass on [x_l; x_u] (eval mode, no gradient): pseudo-labels
        with torch.no_grad():
            raw_t, rep_t = self.logits_and_features(
                self.teacher, torch.cat([batch.labeled, unlabeled.weak]))
        _, _, pseudo_label = pseudo_label_targets(
            self.upsample(self.teacher, raw_t[num_labeled:], size))
        self.report_pseudo_labels("pseudo_label", pseudo_label)

        # CutMix of image, pseudo-label and padding; the teacher sees the mixed crops too
        images, valid = unlabeled.weak, unlabeled.valid_mask
        if float(torch.rand(())) < self.cutmix_prob:
            box = u2pl_cutmix_boxes(images.shape[0], *size, device=images.device)
            partner = next_image_partner(images.shape[0]).to(images.device)
            images = mix_maps(box, images, images[partner])
            pseudo_label = mix_maps(box, pseudo_label, pseudo_label[partner])
            valid = mix_maps(box, valid, valid[partner])
            with torch.no_grad():
                raw_tu, rep_tu = self.logits_and_features(self.teacher, images)
            raw_t = torch.cat([raw_t[:num_labeled], raw_tu])
            rep_t = torch.cat([rep_t[:num_labeled], rep_tu])

        # student pass: one forward on [x_l; x_u']
        raw, rep = self.logits_and_features(self.student, torch.cat([batch.labeled, images]))

        # reliable / unreliable split by the teacher's entropy on x_u'
        teacher_probs_u = self.upsample(self.teacher, raw_t[num_labeled:], size).softmax(dim=1)
        alpha = alpha_schedule(self.alpha_0, self.train_progress())
        split = entropy_split(pixel_entropy(teacher_probs_u), valid, alpha)

        # losses: L_s + eta L_u + lambda_c L_c
        losses = self.supervised_loss(self.student, raw[:num_labeled], batch.labeled_samples)
        student_logits_u = self.upsample(self.student, raw[num_labeled:], size)
        loss_pseudo = reliable_pseudo_label_loss(student_logits_u, pseudo_label,
                                                 split.unreliable, valid)
        losses["unsup.loss_pseudo"] = self.unsup_weight * loss_pseudo
        labels = torch.cat([batch.labeled_gt,
                            torch.where(valid, pseudo_label, IGNORE_INDEX)])
        loss_contrast, num_classes = self.contrastive_term(
            labels, split, raw_t.softmax(dim=1), rep_t, rep, num_labeled)
        losses["unsup.loss_contrast"] = self.contrast_weight * loss_contrast
        losses["diag.warm_start"] = self._scalar(0.0, raw)
        losses["diag.alpha"] = self._scalar(alpha, raw)
        losses["diag.entropy_threshold"] = split.high_threshold.detach().clamp(max=1e6)
        losses["diag.contrast_classes"] = self._scalar(num_classes, raw)
        losses["diag.bank_fill"] = self._scalar(self.memory_bank.fill_ratio(), raw)
        return losses

    def contrastive_term(self, labels: Tensor, split: EntropySplit, teacher_probs: Tensor,
                         teacher_rep: Tensor, student_rep: Tensor,
                         num_labeled: int) -> tuple[Tensor, int]:
        """Enqueue this batch's negatives, then the contrastive loss (all at stride 4).

        Args:
            labels: ``[B, S, S]`` ground truth then mixed pseudo-labels (255 = ignore).
            split: Entropy split of the unlabeled crops.
            teacher_probs: ``[B, C, h, w]`` teacher probabilities.
            teacher_rep: ``[B, D, h, w]`` teacher representations.
            student_rep: ``[B, D, h, w]`` student representations.
            num_labeled: Labeled crops at the front of the batch.

        Returns:
            The loss and the number of valid classes.
        """
        small = student_rep.shape[-2:]
        labeled = labels[:num_labeled] != IGNORE_INDEX
        candidates = _nearest(torch.cat([labeled, split.reliable]), small)
        unreliable = _nearest(torch.cat([torch.zeros_like(labeled), split.unreliable]), small)
        labels = _nearest(labels, small)
        negatives = negative_masks(labels, unreliable, class_ranks(teacher_probs),
                                   num_labeled, self.low_rank, self.high_rank)
        teacher_feats = teacher_rep.permute(0, 2, 3, 1)
        for c in range(self.memory_bank.num_classes):
            self.memory_bank.push(c, gather_rows(teacher_feats[negatives[:, c]]))
        return class_contrastive_loss(
            student_rep, teacher_rep, teacher_probs, labels, candidates, self.memory_bank,
            self.num_anchors, self.num_negatives, self.anchor_threshold, self.temperature,
            self.contrast_loss)

    def train_progress(self) -> float:
        """``t / T`` (0 when the schedule is unknown)."""
        if not self.max_train_iterations:
            return 0.0
        return self.train_iteration / self.max_train_iterations
