"""Perturbed pseudo-labels for SOP-style losses (docs/methods/sop.md, unimatch_sop.md).

:class:`SinkhornPerturbation` holds SOP's solver hyperparameters and returns the perturbed
labels ``y*`` of unmixed teacher logits; :class:`PerturbedTargets` carries ``y*`` next to
the pseudo-label and confidence so that every map is CutMix'd with the same box.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from methods.common.losses import pseudo_label_targets
from methods.common.mixing import mix_maps
from methods.ops import oracle_target, sop_perturb


@dataclass(frozen=True)
class SinkhornPerturbation:
    """SOP's output perturbation ``y*`` (the SOP paper's eq. 1-12) with its hyperparameters.

    Attributes:
        grid: Patches per side (4: patches of ``h/4 x w/4``).
        phi: Range of the interpolation weight, ``b in [-phi, phi]``.
        alpha: Beta shape ``alpha`` of ``psi``.
        beta: Beta shape ``beta`` of ``psi``.
        epsilon: Entropic weight of the Sinkhorn solve.
        max_iters: Maximum Sinkhorn iterations.
    """

    grid: int = 4
    phi: float = 0.4
    alpha: float = 0.5
    beta: float = 0.5
    epsilon: float = 0.05
    max_iters: int = 50

    def __call__(self, logits: Tensor, pad_mask: Tensor) -> Tensor:
        """Return ``y*`` ``[B, H, W]`` of unmixed logits ``[B, C, H, W]`` (pad keeps argmax)."""
        return sop_perturb(logits, pad_mask, self.grid, self.phi, self.alpha, self.beta,
                           self.epsilon, self.max_iters).perturbed_label

    def oracle(self, logits: Tensor, pad_mask: Tensor, gt_label: Tensor) -> Tensor:
        """Return ``y*`` reallocated to each whole image's GT class histogram (GT oracle)."""
        return oracle_target(logits, gt_label, pad_mask, epsilon=self.epsilon,
                             max_iters=self.max_iters).perturbed_label


@dataclass
class PerturbedTargets:
    """Per-pixel targets of one unlabeled batch with the perturbed labels (all ``[B, H, W]``).

    Attributes:
        label: Pseudo-label ``argmax y^``.
        perturbed_label: ``y*``, or None when the perturbation is switched off.
        confidence: ``max y^``.
        valid: True on real (non-padded) pixels.
    """

    label: Tensor
    perturbed_label: Tensor | None
    confidence: Tensor
    valid: Tensor

    @classmethod
    def from_logits(cls, logits: Tensor, valid: Tensor,
                    perturbed_label: Tensor | None = None) -> PerturbedTargets:
        """Targets of detached logits ``[B, C, H, W]`` with their ``y*`` (or None)."""
        _, confidence, label = pseudo_label_targets(logits)
        return cls(label, perturbed_label, confidence, valid)

    def mixed(self, box: Tensor, partner: PerturbedTargets) -> PerturbedTargets:
        """Targets of a CutMix'd image: ``partner`` inside ``box``, ``self`` outside."""
        perturbed = None
        if self.perturbed_label is not None:
            perturbed = mix_maps(box, self.perturbed_label, partner.perturbed_label)
        return PerturbedTargets(
            label=mix_maps(box, self.label, partner.label),
            perturbed_label=perturbed,
            confidence=mix_maps(box, self.confidence, partner.confidence),
            valid=mix_maps(box, self.valid, partner.valid),
        )


def changed_fraction(perturbed_label: Tensor, label: Tensor, valid: Tensor) -> Tensor:
    """Fraction of valid pixels whose label the perturbation changed (SOP paper, Figure 5)."""
    changed = ((perturbed_label != label) & valid).sum()
    return changed.float() / valid.sum().clamp(min=1).float()

