"""UniMatch + SOP (docs/methods/unimatch_sop.md)."""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.models import SemiBatch
from benchmark.registry import register_method
from methods.common import masked_cross_entropy
from methods.common.output_perturbation import (
    PerturbedTargets,
    SinkhornPerturbation,
    changed_fraction,
)
from methods.common.weak_to_strong import cutmix_strong_views, eval_mode_logits
from methods.unimatch import UniMatch


@register_method(
    "unimatch_sop",
    description="UniMatch whose three unsupervised terms get SOP's confidence-weighted "
                "perturbed-label companion",
    paper="Sinkhorn Output Perturbations: Structured Pseudo-Label Noise in Semi-Supervised "
          "Segmentation (anonymous submission), section 4.3, on UniMatch (Yang et al., "
          "CVPR 2023)",
)
class UniMatchSOP(UniMatch):
    """UniMatch (FP branch, two strong CutMix views, mix batch) with SOP's eq.-13 terms.

    ``L = 1/2 [L_x + 1/2 L'_fp + 1/4 L'_s1 + 1/4 L'_s2]``, each unsupervised term being::

        L' = sum_i 1[pad_i = 0] conf_i^gamma [CE(z_i, y^_i) + tau CE(z_i, y*_i)] / |{pad = 0}|

    ``y*_w`` is SOP of the model's detached train-mode weak prediction, ``y*_mix`` SOP of its
    eval-mode mix prediction, each on the unmixed map; ``L'_sk`` uses the box-``M_k`` mixes
    of ``(y^, y^_mix)``, ``(y*_w, y*_mix)`` and ``(conf, conf_mix)``. No confidence
    threshold, unless ``keep_threshold`` (the thresholded variant: ``m = 1[conf >= conf_thresh]``
    and ``w = 1`` on both terms).

    Args:
        sop_weight: ``tau``; 0 computes no perturbation.
        conf_power: ``gamma`` of the confidence weight.
        keep_threshold: The thresholded variant.
        conf_thresh: UniMatch's threshold, used only with ``keep_threshold``.
        patch_grid: Patches per side (4: ``h/4 x w/4``).
        phi: Interpolation range, ``b in [-phi, phi]``.
        alpha: Beta shape ``alpha`` of ``psi``.
        beta: Beta shape ``beta`` of ``psi``.
        epsilon: Entropic weight of the Sinkhorn solve.
        sinkhorn_iters: Maximum Sinkhorn iterations.
        **kwargs: :class:`~methods.unimatch.UniMatch` arguments (``fp_dropout``, ...).
    """

    def __init__(self, sop_weight: float = 0.25, conf_power: float = 2.0,
                 keep_threshold: bool = False, conf_thresh: float = 0.95, patch_grid: int = 4,
                 phi: float = 0.4, alpha: float = 0.5, beta: float = 0.5,
                 epsilon: float = 0.05, sinkhorn_iters: int = 50, **kwargs) -> None:
        super().__init__(conf_thresh=conf_thresh, **kwargs)
        self.sop_weight = sop_weight
        self.conf_power = conf_power
        self.keep_threshold = keep_threshold
        self.sinkhorn = SinkhornPerturbation(patch_grid, phi, alpha, beta, epsilon,
                                             sinkhorn_iters)

    def perturbed_loss(self, logits: Tensor, targets: PerturbedTargets) -> Tensor:
        """``L'`` of one term: ``sum m w [CE(z, y^) + tau CE(z, y*)] / |{pad = 0}|``."""
        if self.keep_threshold:
            mask, weight = targets.confidence >= self.conf_thresh, None
        else:
            mask, weight = None, targets.confidence ** self.conf_power
        loss = masked_cross_entropy(logits, targets.label, targets.valid, mask, weight)
        if targets.perturbed_label is not None:
            loss = loss + self.sop_weight * masked_cross_entropy(
                logits, targets.perturbed_label, targets.valid, mask, weight)
        return loss

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        unlabeled, mix = batch.unlabeled, batch.unlabeled_mix
        num_labeled = batch.labeled.shape[0]
        size = batch.labeled.shape[-2:]
        sizes = [unlabeled.weak.shape[0], mix.weak.shape[0]]

        # mix-batch prediction: eval mode, no gradient
        mix_logits = eval_mode_logits(self, self.student, mix.weak)

        # two strong inputs, each with its own box and the mix batch's matching view
        strong_inputs = cutmix_strong_views(unlabeled, mix)

        # clean + FP forward on [x_l; x_w]
        raw_clean, raw_fp = self.clean_and_perturbed_logits(
            torch.cat([batch.labeled, unlabeled.weak]))
        weak_logits = self.upsample(self.student, raw_clean[num_labeled:], size)
        fp_logits = self.upsample(self.student, raw_fp[num_labeled:], size)

        # SOP on the detached weak and the mix predictions, each unmixed (one batched call)
        perturbed = perturbed_mix = None
        if self.sop_weight > 0:
            perturbed, perturbed_mix = self.sinkhorn(
                torch.cat([weak_logits.detach(), mix_logits]),
                torch.cat([unlabeled.pad_mask, mix.pad_mask])).split(sizes)
        targets = PerturbedTargets.from_logits(weak_logits, unlabeled.valid_mask, perturbed)
        mix_targets = PerturbedTargets.from_logits(mix_logits, mix.valid_mask, perturbed_mix)

        # strong forward on both views at once, without FP
        strong_logits = self.logits(self.student, torch.cat(strong_inputs)).chunk(2)

        # losses: UniMatch's weights on the eq.-13 terms
        loss_fp = self.perturbed_loss(fp_logits, targets)
        loss_strong = [
            self.perturbed_loss(logits, targets.mixed(unlabeled.cutmix_boxes[:, k], mix_targets))
            for k, logits in enumerate(strong_logits)
        ]
        losses = self.weighted_losses(raw_clean[:num_labeled], batch, loss_fp, loss_strong)
        if self.keep_threshold:
            losses["diag.mask_ratio"] = (targets.confidence >= self.conf_thresh).float().mean()
        self.report_pseudo_labels("pseudo_label", targets.label)
        if perturbed is not None:
            losses["diag.changed_fraction"] = changed_fraction(
                targets.perturbed_label, targets.label, targets.valid)
            self.report_pseudo_labels("perturbed_label", targets.perturbed_label)
        return losses
