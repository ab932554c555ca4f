"""DARS: distribution alignment and random sampling, iterative offline self-training."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from benchmark.registry import register_method
from benchmark.self_training import (
    PseudoLabelSelection,
    SelectionContext,
    SelfTrainingBatch,
    SelfTrainingSegmentor,
)
from methods.common import masked_cross_entropy
from methods.ops.dars import (
    apply_selection,
    candidate_counts,
    class_thresholds,
    confidence_histogram,
    sampling_quotas,
    target_counts,
)


@register_method(
    "dars",
    description="DARS: offline self-training rounds with class-wise thresholds matched to the "
                "labeled class distribution, then random sampling",
    paper="He, Yang, Qi, Re-distributing Biased Pseudo Labels for Semi-supervised Semantic "
          "Segmentation: A Baseline Investigation, ICCV 2021 (CVMI-Lab/DARS)",
)
class DARS(SelfTrainingSegmentor):
    """Round 0 supervised; round ``k`` trains on labeled data plus DARS pseudo-labels.

    Pseudo-labels of round ``k`` (Algorithm 1) come from the round ``k-1`` model: keep
    ``n_j = ⌊α_k·r_j·P_u⌋`` pixels of class ``j`` (``r`` the labeled class distribution),
    those with confidence at least ``t_j`` (the ``n_j``-th largest confidence of class
    ``j``), randomly subsampled to exactly ``n_j`` where ties leave more. The loss of a
    round (eq. 2) is ``L = meanCE(z_l, y) + λ·meanCE(z_u, ỹ_u)`` over separate forwards
    of the ``B_l`` labeled and ``B_u`` pseudo-labeled crops, 255s ignored. ``α_k``, the
    scale range and the schedule of each round are in the loop's ``rounds``.

    Args:
        unsup_weight: ``λ``.
        sampling: ``"exact"`` (exactly ``n_j`` pixels per class over the whole set) or
            ``"per_image"`` (the official code's per-image rounding).
    """

    def __init__(self, unsup_weight: float = 1.0, sampling: str = "exact", **kwargs) -> None:
        super().__init__(**kwargs)
        self.unsup_weight = unsup_weight
        self.sampling = sampling

    def select_pseudo_labels(self, predictions: Sequence[tuple[Tensor, Tensor]],
                             context: SelectionContext) -> PseudoLabelSelection:
        num_classes = len(context.labeled_distribution)

        # distribution alignment: class-wise thresholds from all confidences of the set
        histogram = sum(confidence_histogram(label, confidence, num_classes)
                        for label, confidence in predictions)
        targets = target_counts(context.labeled_distribution, context.settings["alpha"],
                                context.num_pixels)
        thresholds = class_thresholds(histogram, targets)

        # random sampling: how many candidates of each class every image keeps
        counts = torch.stack([candidate_counts(label, confidence, thresholds.codes)
                              for label, confidence in predictions])
        quotas = sampling_quotas(counts, thresholds, self.sampling, context.seed)
        generator = torch.Generator().manual_seed(context.seed)

        def label(index: int, argmax: Tensor, confidence: Tensor) -> Tensor:
            return apply_selection(argmax, confidence, thresholds.codes, quotas[index], generator)

        names = context.class_names
        details = {
            "alpha": context.settings["alpha"],
            "sampling": self.sampling,
            "targets": dict(zip(names, thresholds.targets.tolist())),
            "thresholds": dict(zip(names, thresholds.values.tolist())),
            "candidates": dict(zip(names, thresholds.candidates.tolist())),
            "sampling_ratio": dict(zip(names, thresholds.sampling_ratio.tolist())),
            "overflow": [n for n, o in zip(names, thresholds.overflow.tolist()) if o],
        }
        diagnostics = {"overflow_classes": float(thresholds.overflow.sum())}
        return PseudoLabelSelection(label, diagnostics, details)

    def compute_losses(self, batch: SelfTrainingBatch) -> dict[str, Tensor]:
        # labeled forward and loss
        raw_labeled = self.raw_logits(self.student, batch.labeled)
        losses = self.supervised_loss(self.student, raw_labeled, batch.labeled_samples)
        if batch.pseudo_images is None:
            return losses

        # pseudo-labeled forward (separate batch) and meanCE on the kept pixels
        pseudo_logits = self.logits(self.student, batch.pseudo_images)
        pseudo_label = batch.pseudo_label
        kept = pseudo_label != 255
        losses["unsup.loss_pseudo"] = self.unsup_weight * masked_cross_entropy(
            pseudo_logits, pseudo_label, kept)
        losses["diag.pseudo_kept_ratio"] = kept.float().mean()
        return losses
