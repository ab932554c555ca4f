"""SOP, Sinkhorn Output Perturbations, and its GT-oracle diagnostic (docs/methods/sop.md)."""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method
from methods.common import masked_cross_entropy
from methods.common.output_perturbation import (
    PerturbedTargets,
    SinkhornPerturbation,
    changed_fraction,
)
from methods.common.weak_to_strong import cutmix_strong_views

PERTURBATIONS = ("sop", "oracle")
# tau by perturbation when not given: the paper's 0.25, and 1 for the GT oracle (its
# appendix A.3).
DEFAULT_SOP_WEIGHT = {"sop": 0.25, "oracle": 1.0}


@register_method(
    "sop",
    description="SOP: EMA-teacher CutMix self-training plus Sinkhorn-reallocated "
                "perturbed pseudo-labels",
    paper="Sinkhorn Output Perturbations: Structured Pseudo-Label Noise in Semi-Supervised "
          "Segmentation (anonymous submission; no public code)",
)
class SOP(SemiSegmentor):
    """Mean teacher with weak-to-strong CutMix and Sinkhorn output perturbations.

    The EMA teacher's prediction ``y^`` on the weak view gives the pseudo-label
    ``argmax y^``, the weight ``w = (max y^)^gamma`` and, per patch, the perturbed label
    ``y*``: the pixels reallocated by entropic optimal transport to a random interpolation
    of the patch's argmax and softmax-mined class histograms. All maps are computed on the
    unmixed images and then CutMix'd like the student's input ``x~_s``. Loss (eq. 13-14)::

        L = L_x + lambda * 1/|V| sum_{i in V} w_i [CE(z_i, argmax y^_i) + tau CE(z_i, y*_i)]

    over the non-padded pixels ``V`` of the mixed batch, with ``z`` the student logits on
    ``x~_s``. ``tau = 0`` is the paper's baseline without SOP (no perturbation computed).
    ``perturbation='oracle'`` is the paper's GT-histogram diagnostic (appendix A.3): it reads
    the hidden ground truth of the unlabeled crops, so only such a run sets
    ``uses_hidden_gt``.

    Args:
        unsup_weight: ``lambda`` (2 on Pascal, 6 on Cityscapes).
        sop_weight: ``tau``; None takes 0.25, or 1 for the oracle.
        conf_power: ``gamma`` of the confidence weight.
        perturbation: ``"sop"`` or ``"oracle"`` (target = GT class histogram of the crop,
            whole image as one patch).
        patch_grid: Patches per side (4: ``h/4 x w/4``).
        phi: Interpolation range, ``b in [-phi, phi]``.
        alpha: Beta shape ``alpha`` of ``psi``.
        beta: Beta shape ``beta`` of ``psi``.
        epsilon: Entropic weight of the Sinkhorn solve.
        sinkhorn_iters: Maximum Sinkhorn iterations.
        **kwargs: :class:`~benchmark.models.SemiSegmentor` arguments; the leaf config sets
            ``ema_momentum=0.999``, ``ema_buffers='ema'``, ``predict_on='teacher'``.
    """

    def __init__(self, unsup_weight: float = 2.0, sop_weight: float | None = None,
                 conf_power: float = 2.0, perturbation: str = "sop", patch_grid: int = 4,
                 phi: float = 0.4, alpha: float = 0.5, beta: float = 0.5,
                 epsilon: float = 0.05, sinkhorn_iters: int = 50, **kwargs) -> None:
        super().__init__(**kwargs)
        if perturbation not in PERTURBATIONS:
            raise ValueError(f"perturbation must be one of {PERTURBATIONS}, got {perturbation}")
        self.unsup_weight = unsup_weight
        self.sop_weight = DEFAULT_SOP_WEIGHT[perturbation] if sop_weight is None else sop_weight
        self.conf_power = conf_power
        self.perturbation = perturbation
        self.sinkhorn = SinkhornPerturbation(patch_grid, phi, alpha, beta, epsilon,
                                             sinkhorn_iters)
        self.uses_hidden_gt = perturbation == "oracle"

    def perturb(self, teacher_logits: Tensor, pad_mask: Tensor,
                gt_label: Tensor | None) -> Tensor:
        """Perturbed labels ``y*`` ``[B, H, W]`` of unmixed teacher logits ``[B, C, H, W]``.

        Args:
            teacher_logits: Teacher logits of unmixed weak views.
            pad_mask: True on padded pixels (excluded; they keep the pseudo-label).
            gt_label: Hidden ground truth of the same crops (oracle only), else None.
        """
        if self.perturbation == "oracle":
            return self.sinkhorn.oracle(teacher_logits, pad_mask, gt_label)
        return self.sinkhorn(teacher_logits, pad_mask)

    def _oracle_labels(self, batch: SemiBatch) -> Tensor | None:
        if not self.uses_hidden_gt:
            return None
        if batch.oracle_gt is None or "unlabeled_mix" not in batch.oracle_gt:
            raise RuntimeError("the SOP oracle needs the hidden GT of both unlabeled branches")
        return torch.cat([batch.oracle_gt["unlabeled"], batch.oracle_gt["unlabeled_mix"]])

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        unlabeled, mix = batch.unlabeled, batch.unlabeled_mix
        num_labeled = batch.labeled.shape[0]
        sizes = [unlabeled.weak.shape[0], mix.weak.shape[0]]

        # teacher pass on the main and mix weak views (eval mode, no gradient)
        teacher_logits = self.teacher_logits(torch.cat([unlabeled.weak, mix.weak]))

        # SOP perturbation on each unmixed teacher map (per image, so one batched call)
        perturbed = perturbed_mix = None
        if self.sop_weight > 0:
            pad_mask = torch.cat([unlabeled.pad_mask, mix.pad_mask])
            perturbed, perturbed_mix = self.perturb(
                teacher_logits, pad_mask, self._oracle_labels(batch)).split(sizes)
        main_logits, mix_logits = teacher_logits.split(sizes)
        targets = PerturbedTargets.from_logits(main_logits, unlabeled.valid_mask, perturbed)
        mix_targets = PerturbedTargets.from_logits(mix_logits, mix.valid_mask, perturbed_mix)

        # CutMix: pseudo-label, confidence, perturbed label and pad mixed with the image's box
        (strong_input,) = cutmix_strong_views(unlabeled, mix)
        mixed = targets.mixed(unlabeled.cutmix_boxes[:, 0], mix_targets)

        # student pass: one forward on [x_l; x~_s]
        raw = self.raw_logits(self.student, torch.cat([batch.labeled, strong_input]))
        strong_logits = self.upsample(self.student, raw[num_labeled:], strong_input.shape[-2:])

        # losses: L_x + lambda (L_mt + tau L_sop), both weighted by w = conf^gamma
        weight = mixed.confidence ** self.conf_power
        losses = self.supervised_loss(self.student, raw[:num_labeled], batch.labeled_samples)
        loss_mt = masked_cross_entropy(strong_logits, mixed.label, mixed.valid, weight=weight)
        losses["unsup.loss_mt"] = self.unsup_weight * loss_mt
        self.report_pseudo_labels("pseudo_label", targets.label)
        if mixed.perturbed_label is not None:
            loss_sop = masked_cross_entropy(strong_logits, mixed.perturbed_label, mixed.valid,
                                            weight=weight)
            losses["unsup.loss_sop"] = self.unsup_weight * self.sop_weight * loss_sop
            losses["diag.changed_fraction"] = changed_fraction(
                targets.perturbed_label, targets.label, targets.valid)
            self.report_pseudo_labels("perturbed_label", targets.perturbed_label)
        return losses
