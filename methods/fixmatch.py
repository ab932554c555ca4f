"""FixMatch-style baseline, UniMatch's ``fixmatch.py`` (docs/methods/fixmatch.md)."""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method
from methods.common import masked_cross_entropy
from methods.common.mixing import mix_maps
from methods.common.upc_online import upc_online
from methods.common.weak_to_strong import PseudoTargets, cutmix_strong_views, eval_mode_logits


@register_method(
    "fixmatch",
    description="FixMatch: thresholded weak-view pseudo-labels supervise a CutMix'd strong view",
    paper="Sohn et al., FixMatch, NeurIPS 2020; segmentation form of LiheYoung/UniMatch "
          "(Yang et al., CVPR 2023)",
)
class FixMatch(SemiSegmentor):
    """One network; hard pseudo-labels from the weak view supervise a strong CutMix view.

    ``L = (L_x + L_s) / 2`` with ``L_s`` the masked mean of ``CE(z_s, y^cm)`` over pixels
    with ``conf^cm >= tau``, divided by the number of non-padded pixels (UniMatch's
    reduction, :func:`~methods.common.masked_cross_entropy`).

    Args:
        conf_thresh: ``tau`` (0.95 on Pascal, 0 on Cityscapes).
        upc_k: If > 0, UPC (Fang et al., ICCV 2023) as an online plug-in: before the
            CutMix, the ``upc_k`` patches of the strong view with the largest entropy of
            the weak-view prediction, and their targets, are replaced by a labeled crop of
            the batch and its ground truth. 0 (default) is plain FixMatch.
        upc_grid: UPC's ``N x N`` patch grid.
    """

    def __init__(self, conf_thresh: float = 0.95, upc_k: int = 0, upc_grid: int = 4,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.conf_thresh = conf_thresh
        self.upc_k = upc_k
        self.upc_grid = upc_grid

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        unlabeled, mix = batch.unlabeled, batch.unlabeled_mix
        num_labeled = batch.labeled.shape[0]

        # mix-batch pseudo-labels: eval mode, no gradient
        mix_targets = PseudoTargets.from_logits(
            eval_mode_logits(self, self.student, mix.weak), mix.valid_mask)

        # strong input: the mix batch's strong view pasted into the box
        (strong_input,) = cutmix_strong_views(unlabeled, mix)

        # main forward on [x_l; x_w] (train mode)
        inputs = torch.cat([batch.labeled, unlabeled.weak])
        raw = self.raw_logits(self.student, inputs)
        weak_logits = self.upsample(self.student, raw[num_labeled:], inputs.shape[-2:])
        targets = weak_targets = PseudoTargets.from_logits(weak_logits, unlabeled.valid_mask)

        # optional UPC plug-in on the strong view and its targets, before the CutMix
        if self.upc_k:
            strong_view, targets = upc_online(unlabeled.strong[0], targets, batch.labeled,
                                              batch.labeled_gt, self.upc_k, self.upc_grid)
            strong_input = mix_maps(unlabeled.cutmix_boxes[:, 0], strong_view, mix.strong[0])

        # strong forward, separate (BN statistics from the strong batch only)
        strong_logits = self.logits(self.student, strong_input)

        # losses
        mixed = targets.mixed(unlabeled.cutmix_boxes[:, 0], mix_targets)
        loss_s = masked_cross_entropy(strong_logits, mixed.label, mixed.valid,
                                      mask=mixed.confidence >= self.conf_thresh)
        losses = self.supervised_loss(self.student, raw[:num_labeled], batch.labeled_samples)
        losses = {k: v / 2 if "loss" in k else v for k, v in losses.items()}
        losses["unsup.loss_strong"] = loss_s / 2
        losses["diag.mask_ratio"] = (mixed.confidence >= self.conf_thresh).float().mean()
        self.report_pseudo_labels("pseudo_label", weak_targets.label)
        return losses
