"""UniMatch V2 (docs/methods/unimatch_v2.md)."""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method
from methods.common import masked_cross_entropy, mix_maps
from methods.common.weak_to_strong import PseudoTargets
from methods.ops.complementary_dropout import complementary_dropout


@register_method(
    "unimatch_v2",
    description="UniMatch V2: EMA-teacher pseudo-labels supervise one strong stream of two "
                "CutMix views with Complementary Dropout on their features",
    paper="Yang, Zhao & Zhao, UniMatch V2: Pushing the Limit of Semi-Supervised Semantic "
          "Segmentation, TPAMI 2025, arXiv:2410.10777 (LiheYoung/UniMatch-V2)",
)
class UniMatchV2(SemiSegmentor):
    """UniMatch V2: an EMA teacher, one strong stream, Complementary Dropout.

    ``L = 1/2 [L_x + lambda (L_s1 + L_s2) / 2]``. The EMA teacher's weak-view prediction
    gives ``y_hat`` and ``conf``; the two strong views, each CutMix'd with the batch in
    reverse order, run through the student in one forward in which the backbone features
    of the two views get complementary channel-dropout masks (image- and feature-level
    perturbation in a single stream). ``L_sk`` is the masked mean of ``CE(z_sk, y_hat^(k))``
    over pixels with ``conf^(k) >= tau``, divided by the non-padded pixels.

    Args:
        conf_thresh: ``tau`` (0.95 on Pascal and Cityscapes).
        unsup_weight: ``lambda`` (1 in the official code).
        drop_ratio: Fraction of image pairs whose features get Complementary Dropout.
        **kwargs: :class:`~benchmark.models.SemiSegmentor` arguments; the leaf config sets
            ``ema_momentum=0.996``, ``ema_buffers='ema'``, ``predict_on='teacher'``.
    """

    def __init__(self, conf_thresh: float = 0.95, unsup_weight: float = 1.0,
                 drop_ratio: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.teacher is None:
            raise ValueError("UniMatch V2 needs its EMA teacher: set ema_momentum")
        self.conf_thresh = conf_thresh
        self.unsup_weight = unsup_weight
        self.drop_ratio = drop_ratio

    def strong_stream_logits(self, strong_inputs: list[Tensor]) -> tuple[Tensor, ...]:
        """Raw head logits of the strong views, run together with Complementary Dropout.

        The backbone runs once on ``[x_s1; x_s2]``; its features are multiplied by the
        complementary masks (:func:`~methods.ops.complementary_dropout`) and the decode
        head (unmodified) reads them.
        """
        features = self.student.extract_feat(torch.cat(strong_inputs))
        raw = self.student.decode_head(complementary_dropout(features, self.drop_ratio))
        return raw.chunk(len(strong_inputs))

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        unlabeled = batch.unlabeled
        size = batch.labeled.shape[-2:]

        # teacher pass on the weak views (eval mode, no gradient): pseudo-labels
        targets = PseudoTargets.from_logits(self.teacher_logits(unlabeled.weak),
                                            unlabeled.valid_mask)

        # strong views, each CutMix'd with the batch in reverse order (box k for view k)
        boxes = unlabeled.cutmix_boxes
        strong_inputs = [mix_maps(boxes[:, k], view, view.flip(0))
                         for k, view in enumerate(unlabeled.strong)]

        # student: labeled forward, then the single strong stream
        raw_labeled = self.raw_logits(self.student, batch.labeled)
        strong_logits = [self.upsample(self.student, raw, size)
                         for raw in self.strong_stream_logits(strong_inputs)]

        # losses
        partner = targets.reversed()
        loss_strong = []
        for k, logits in enumerate(strong_logits):
            mixed = targets.mixed(boxes[:, k], partner)
            loss_strong.append(masked_cross_entropy(
                logits, mixed.label, mixed.valid, mask=mixed.confidence >= self.conf_thresh))
        losses = self.supervised_loss(self.student, raw_labeled, batch.labeled_samples)
        losses = {k: v / 2 if "loss" in k else v for k, v in losses.items()}
        weight = self.unsup_weight / (2 * len(loss_strong))
        for k, loss in enumerate(loss_strong, start=1):
            losses[f"unsup.loss_strong{k}"] = weight * loss
        selected = (targets.confidence >= self.conf_thresh) & targets.valid
        losses["diag.mask_ratio"] = selected.sum() / targets.valid.sum().clamp(min=1)
        self.report_pseudo_labels("pseudo_label", targets.label)
        return losses
