"""Supervised-only baseline (METHODS.md section 1)."""

from __future__ import annotations

from torch import Tensor

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method


@register_method(
    "supervised",
    description="supervised-only reference: labeled crops only, batch 16, matched iterations",
    paper="METHODS.md section 1 (CPS-style matched-iteration schedule)",
    needs_unlabeled=False,
)
class SupervisedOnly(SemiSegmentor):
    """Train on labeled data alone: ``L = meanCE(z_l, y)`` (OHEM on Cityscapes).

    The schedule matches the semi-supervised iteration count ``T`` with ``B_l = 16``
    (set in the leaf config), as CPS does.
    """

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        raw_labeled = self.raw_logits(self.student, batch.labeled)
        return self.supervised_loss(self.student, raw_labeled, batch.labeled_samples)
