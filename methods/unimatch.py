"""UniMatch (docs/methods/unimatch.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method
from methods.common import masked_cross_entropy
from methods.common.weak_to_strong import PseudoTargets, cutmix_strong_views, eval_mode_logits


def head_feature_indices(head: nn.Module) -> set[int]:
    """Indices of the backbone features a decode head reads.

    DeepLabv3+: the low-level ``c1`` (index 0) and ``in_index``; a head reading several
    inputs (the DPT head's four ViT maps): every index of its ``in_index``.
    """
    if isinstance(head.in_index, (list, tuple)):
        return set(head.in_index)
    return {0, head.in_index}


@register_method(
    "unimatch",
    description="UniMatch: FixMatch + feature-perturbation branch + two strong CutMix views",
    paper="Yang et al., Revisiting Weak-to-Strong Consistency, CVPR 2023 (LiheYoung/UniMatch)",
)
class UniMatch(SemiSegmentor):
    """UniMatch with its feature-perturbation (FP) branch and two strong views.

    ``L = 1/2 [L_x + 1/2 L_fp + 1/4 L_s1 + 1/4 L_s2]``. The FP branch applies
    ``Dropout2d(fp_dropout)`` to the low-level (c1) and last (c4) backbone features of
    ``[x_l; x_w]``; the decoder runs once on the batch-concatenation of clean and
    perturbed features, so its BN sees both halves together.

    Args:
        conf_thresh: ``tau`` (0.95 on Pascal, 0 on Cityscapes).
        fp_dropout: Channel dropout probability of the FP branch.
    """

    def __init__(self, conf_thresh: float = 0.95, fp_dropout: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.conf_thresh = conf_thresh
        self.fp_dropout = fp_dropout

    def clean_and_perturbed_logits(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Raw head logits of ``inputs`` with clean and dropout-perturbed features.

        The backbone runs once; the features the head reads (:func:`head_feature_indices`)
        are concatenated with their ``Dropout2d`` copies along the batch, and the head (an
        unmodified MMSeg module) runs once on the result.
        """
        features = self.student.extract_feat(inputs)
        head_inputs = head_feature_indices(self.student.decode_head)
        doubled = [
            torch.cat([f, F.dropout2d(f, self.fp_dropout, training=True)]) if i in head_inputs
            else torch.cat([f, f])
            for i, f in enumerate(features)
        ]
        raw = self.student.decode_head(doubled)
        return raw.chunk(2)

    def weighted_losses(self, labeled_logits: Tensor, batch: SemiBatch, loss_fp: Tensor,
                        loss_strong: list[Tensor]) -> dict[str, Tensor]:
        """Supervised loss and UniMatch's weights: ``1/2 [L_x + 1/2 L_fp + 1/4 (L_s1 + L_s2)]``.

        Args:
            labeled_logits: Raw head logits of the labeled crops.
            batch: The training batch (for the labeled samples).
            loss_fp: Unweighted FP-branch loss.
            loss_strong: Unweighted losses of the two strong views.
        """
        losses = self.supervised_loss(self.student, labeled_logits, batch.labeled_samples)
        losses = {k: v / 2 if "loss" in k else v for k, v in losses.items()}
        losses["unsup.loss_fp"] = loss_fp / 4
        losses["unsup.loss_strong1"] = loss_strong[0] / 8
        losses["unsup.loss_strong2"] = loss_strong[1] / 8
        return losses

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        unlabeled, mix = batch.unlabeled, batch.unlabeled_mix
        num_labeled = batch.labeled.shape[0]
        size = batch.labeled.shape[-2:]

        # mix-batch pseudo-labels: eval mode, no gradient
        mix_targets = PseudoTargets.from_logits(
            eval_mode_logits(self, self.student, mix.weak), mix.valid_mask)

        # two strong inputs, each with its own box and the mix batch's matching view
        strong_inputs = cutmix_strong_views(unlabeled, mix)

        # clean + FP forward on [x_l; x_w]
        raw_clean, raw_fp = self.clean_and_perturbed_logits(
            torch.cat([batch.labeled, unlabeled.weak]))
        weak_logits = self.upsample(self.student, raw_clean[num_labeled:], size)
        fp_logits = self.upsample(self.student, raw_fp[num_labeled:], size)
        targets = PseudoTargets.from_logits(weak_logits, unlabeled.valid_mask)

        # strong forward on both views at once, without FP
        strong_logits = self.logits(self.student, torch.cat(strong_inputs)).chunk(2)

        # losses
        loss_fp = masked_cross_entropy(fp_logits, targets.label, targets.valid,
                                       mask=targets.confidence >= self.conf_thresh)
        loss_strong = []
        for k, logits in enumerate(strong_logits):
            mixed = targets.mixed(unlabeled.cutmix_boxes[:, k], mix_targets)
            loss_strong.append(masked_cross_entropy(
                logits, mixed.label, mixed.valid, mask=mixed.confidence >= self.conf_thresh))
        losses = self.weighted_losses(raw_clean[:num_labeled], batch, loss_fp, loss_strong)
        losses["diag.mask_ratio"] = (targets.confidence >= self.conf_thresh).float().mean()
        self.report_pseudo_labels("pseudo_label", targets.label)
        return losses
