"""Supervised-only baseline (docs/methods/supervised.md)."""

from __future__ import annotations

from torch import Tensor

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method


@register_method(
    "supervised",
    description="supervised-only reference: labeled crops only, the semi-supervised labeled "
                "batch, matched iterations",
    paper="none (reference); matched-iteration schedule as in Chen et al., CVPR 2021 (CPS)",
    needs_unlabeled=False,
)
class SupervisedOnly(SemiSegmentor):
    """Train on labeled data alone: ``L = meanCE(z_l, y)`` (OHEM on Cityscapes).

    The schedule matches the semi-supervised iteration count ``T`` (as CPS does) with
    the protocol's labeled batch ``B_l``, the one the semi-supervised methods get.
    """

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        raw_labeled = self.raw_logits(self.student, batch.labeled)
        return self.supervised_loss(self.student, raw_labeled, batch.labeled_samples)
