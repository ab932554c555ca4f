"""SOP's random-noise baseline (docs/methods/random_noise.md)."""

from __future__ import annotations

from torch import Tensor

from benchmark.registry import register_method
from methods.ops import random_noise_perturb
from methods.sop import SOP


@register_method(
    "random_noise",
    description="SOP scheme with y* = pseudo-label with random 4x4-cell class noise",
    paper="Sinkhorn Output Perturbations: Structured Pseudo-Label Noise in Semi-Supervised "
          "Segmentation (anonymous submission), section 4.1: random-noise baseline",
)
class RandomNoise(SOP):
    """SOP with the Sinkhorn perturbation replaced by unstructured label noise.

    Per unmixed image, ``round(f * #cells)`` of the ``4 x 4``-pixel cells are repainted with
    a class drawn uniformly from all ``C``; every other pixel keeps ``argmax y^``. The loss
    is SOP's (eq. 13-14) with the noisy copy as ``y*``, and ``tau``, ``gamma`` and
    ``lambda`` unchanged; the Sinkhorn settings of :class:`SOP` are unused.

    Args:
        noise_fraction: ``f``, the fraction of cells repainted (2.5% in the paper's text).
        **kwargs: :class:`SOP` arguments.
    """

    #: SOP's Sinkhorn settings, which this baseline never reads (hidden from ``list``;
    #: setting one with ``--cfg-options`` is an error).
    unused_hyperparameters = ("patch_grid", "phi", "alpha", "beta", "epsilon", "sinkhorn_iters")

    def __init__(self, noise_fraction: float = 0.025, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.perturbation != "sop":
            raise ValueError("random_noise replaces the perturbation; it has no oracle mode")
        self.noise_fraction = noise_fraction

    def perturb(self, teacher_logits: Tensor, pad_mask: Tensor,
                gt_label: Tensor | None) -> Tensor:
        """Noisy pseudo-labels ``[B, H, W]`` of unmixed teacher logits (pad keeps argmax)."""
        return random_noise_perturb(teacher_logits, pad_mask, teacher_logits.shape[1],
                                    self.noise_fraction)
