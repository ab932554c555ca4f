"""OHEM cross-entropy as UniMatch and U2PL compute it on Cityscapes: mean CE over kept pixels.

The official rule (LiheYoung/UniMatch ``util/ohem.py``, ``ProbOhemCrossEntropy2d``;
Haochen-Wang409/U2PL ``u2pl/utils/loss_helper.py``, ``OhemCrossEntropy2dTensor``; both
follow TorchSemiSeg) runs once per GPU on that GPU's labeled batch:

* ``n_valid`` = pixels whose label is not ``ignore_index``;
* if ``min_kept > n_valid``: keep every valid pixel (plain mean CE);
* else, with ``q_i`` the softmax probability of the true class and ``q_(k)`` the
  ``k = min_kept``-th smallest ``q`` of the valid pixels, keep the valid pixels with
  ``q_i <= max(thresh, q_(k))`` (``<=``: ties with the threshold are kept, so more than
  ``min_kept`` pixels may stay);
* ``min_kept <= 0`` keeps every valid pixel as well (the official code filters only
  inside ``if min_kept > 0``);
* the loss is the mean CE over the kept pixels (PyTorch's ``cross_entropy`` with the
  other pixels set to ``ignore_index``).

MMSeg lacks this reduction: its ``OHEMPixelSampler`` keeps ``q_i < max(thresh,
q_(min_kept·N + 1))`` (strict, one rank later, ``min_kept`` counted per image) even when
fewer pixels are valid, and returns 0/1 weights that ``CrossEntropyLoss`` divides by
every valid pixel (``avg_non_ignore``) instead of the kept ones, which scales the loss
down as the model gets confident. The keep rule and the reduction are therefore written
here by hand; the cross-entropy itself is PyTorch's.

The official batch is one GPU's, 2 images on UniMatch's 4 GPUs and U2PL's 8;
``images_per_group`` splits our batch into such groups, applies the rule to each and
averages their losses (DDP averages the GPUs' gradients, i.e. of the mean of their
losses). A group without a valid pixel contributes 0 (the official loss would be NaN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn


@torch.no_grad()
def ohem_keep_mask(logits: Tensor, label: Tensor, thresh: float, min_kept: int,
                   ignore_index: int = 255) -> Tensor:
    """Pixels the official OHEM keeps in one (per-GPU) batch.

    Args:
        logits: ``(N, C, H, W)`` class scores.
        label: ``(N, H, W)`` class indices, ``ignore_index`` for unlabeled pixels.
        thresh: Probability threshold (0.7 on Cityscapes).
        min_kept: Minimum number of kept pixels of the whole batch.
        ignore_index: Label value of ignored pixels.

    Returns:
        ``(N, H, W)`` bool mask of the kept pixels (always a subset of the valid ones).
    """
    valid = label != ignore_index
    num_valid = int(valid.sum())
    if min_kept > num_valid or num_valid == 0 or min_kept <= 0:
        return valid
    probs = logits.detach().float().softmax(dim=1)
    true_prob = probs.gather(1, torch.where(valid, label, 0).unsqueeze(1)).squeeze(1)
    kth_smallest = torch.kthvalue(true_prob[valid], min_kept).values
    threshold = torch.clamp(kth_smallest, min=float(thresh))
    return valid & (true_prob <= threshold)


def ohem_cross_entropy(logits: Tensor, label: Tensor, thresh: float, min_kept: int,
                       ignore_index: int = 255) -> Tensor:
    """Mean cross-entropy over the pixels :func:`ohem_keep_mask` keeps (0 if there are none).

    Args:
        logits: ``(N, C, H, W)`` class scores.
        label: ``(N, H, W)`` class indices.
        thresh: Probability threshold.
        min_kept: Minimum number of kept pixels.
        ignore_index: Label value of ignored pixels.

    Returns:
        The scalar loss.
    """
    kept = ohem_keep_mask(logits, label, thresh, min_kept, ignore_index)
    if not bool(kept.any()):
        return logits.sum() * 0.0  # every rank keeps the same graph (DDP)
    target = torch.where(kept, label, ignore_index)
    return F.cross_entropy(logits, target, ignore_index=ignore_index)


@MODELS.register_module()
class ProbOhemCrossEntropyLoss(nn.Module):
    """The official OHEM cross-entropy as an MMSeg ``loss_decode`` (see the module docstring).

    Args:
        thresh: Probability threshold.
        min_kept: Minimum kept pixels per group (200 000 per 2 images for UniMatch's
            Cityscapes, 100 000 per 2 images for U2PL's).
        images_per_group: Images of one official per-GPU batch; None treats the whole
            batch as one group.
        loss_weight: Factor on the loss.
        loss_name: Key of the loss in the head's loss dict (must contain ``loss``).
    """

    def __init__(self, thresh: float = 0.7, min_kept: int = 200000,
                 images_per_group: int | None = 2, loss_weight: float = 1.0,
                 loss_name: str = "loss_ce") -> None:
        super().__init__()
        if images_per_group is not None and images_per_group < 1:
            raise ValueError(f"images_per_group must be >= 1 or None, got {images_per_group}")
        self.thresh = float(thresh)
        self.min_kept = int(min_kept)
        self.images_per_group = images_per_group
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, cls_score: Tensor, label: Tensor, weight: Tensor | None = None,
                ignore_index: int = 255, **kwargs) -> Tensor:
        """Average of the groups' OHEM losses, times ``loss_weight``.

        Args:
            cls_score: ``(N, C, H, W)`` logits at label resolution.
            label: ``(N, H, W)`` labels.
            weight: Per-pixel weights of an MMSeg sampler; must be None (this loss does
                its own pixel selection).
            ignore_index: Label value of ignored pixels.
            **kwargs: Other arguments of MMSeg's loss call (unused).

        Raises:
            ValueError: If a sampler's weights are passed.
        """
        if weight is not None:
            raise ValueError("ProbOhemCrossEntropyLoss selects pixels itself; remove the "
                             "decode head's sampler")
        size = self.images_per_group or cls_score.shape[0]
        losses = [ohem_cross_entropy(logits, target, self.thresh, self.min_kept, ignore_index)
                  for logits, target in zip(cls_score.split(size), label.split(size))]
        return self.loss_weight * torch.stack(losses).mean()

    @property
    def loss_name(self) -> str:
        """Key of the loss in the decode head's loss dict."""
        return self._loss_name
