"""Mean Teacher, TorchSemiSeg variant (docs/methods/meanteacher.md)."""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method


@register_method(
    "meanteacher",
    description="mean teacher: soft MSE consistency to an EMA teacher on weak views",
    paper="Tarvainen & Valpola, Mean teachers are better role models, NeurIPS 2017; "
          "segmentation variant of charlesCXK/TorchSemiSeg",
)
class MeanTeacher(SemiSegmentor):
    """Mean Teacher as in TorchSemiSeg (the CPS paper's baseline).

    Student and teacher see the same weak batch ``X = [x_l; x_u]``. The teacher runs
    without gradient in train mode (BN batch statistics, its own BN buffers); the EMA
    covers parameters only. Loss::

        L = meanCE(z_s,l, y) + w_mt * mean_{b,c,i} (softmax(z_s) - softmax(z_t))^2

    with the mean over all ``(B_l + B_u) * C * H * W`` elements, padding included.

    Args:
        consistency_weight: ``w_mt`` (100 on VOC).
        **kwargs: :class:`~benchmark.models.SemiSegmentor` arguments; the leaf config
            sets ``ema_momentum=0.99``, ``ema_buffers='skip'``,
            ``teacher_train_mode=True``, ``predict_on='teacher'``.
    """

    def __init__(self, consistency_weight: float = 100.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.consistency_weight = consistency_weight

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        num_labeled = batch.labeled.shape[0]
        inputs = torch.cat([batch.labeled, batch.unlabeled.weak])

        # teacher pass (no gradient)
        teacher_probs = self.teacher_logits(inputs).softmax(dim=1)

        # student pass: one forward over labeled and unlabeled
        raw = self.raw_logits(self.student, inputs)
        student_probs = self.upsample(self.student, raw, inputs.shape[-2:]).softmax(dim=1)

        # losses
        losses = self.supervised_loss(self.student, raw[:num_labeled], batch.labeled_samples)
        mse = (student_probs - teacher_probs).pow(2).mean()
        losses["unsup.loss_mse"] = self.consistency_weight * mse
        self.report_pseudo_labels("pseudo_label", teacher_probs[num_labeled:].argmax(dim=1))
        return losses
