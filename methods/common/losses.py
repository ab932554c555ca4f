"""Pixel losses on pseudo-labels (docs/methods/README.md#losses-and-reductions)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def masked_cross_entropy(logits: Tensor, target: Tensor, valid: Tensor,
                         mask: Tensor | None = None, weight: Tensor | None = None) -> Tensor:
    """UniMatch's masked mean: ``sum_i m_i w_i CE_i(z, y) / |{i : valid_i}|``.

    The denominator counts every valid (non-padded) pixel, selected or not, and carries
    no gradient. With no valid pixel the loss is 0 (still connected to ``logits``).

    Args:
        logits: ``[B, C, H, W]`` student logits.
        target: ``[B, H, W]`` hard labels (any value where ``valid`` is False).
        valid: ``[B, H, W]`` bool, True on real (non-padded) pixels.
        mask: ``[B, H, W]`` bool selection ``m`` (e.g. confidence >= threshold).
        weight: ``[B, H, W]`` float weights ``w`` (e.g. confidence ** gamma).

    Returns:
        Scalar loss.
    """
    safe_target = torch.where(valid, target, torch.zeros_like(target))
    per_pixel = F.cross_entropy(logits, safe_target, reduction="none")
    factor = valid.float()
    if mask is not None:
        factor = factor * mask.float()
    if weight is not None:
        factor = factor * weight
    return (per_pixel * factor).sum() / valid.sum().clamp(min=1)


@torch.no_grad()
def pseudo_label_targets(logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Softmax probabilities, confidence and hard pseudo-label of detached logits.

    Ties in the argmax go to the lowest class index (``torch.max`` semantics on CPU and
    CUDA for equal values are not guaranteed, so ties are broken explicitly).

    Returns:
        ``(probs [B, C, H, W], confidence [B, H, W], label [B, H, W])``.
    """
    probs = logits.detach().softmax(dim=1)
    confidence = probs.max(dim=1).values
    is_max = probs == confidence.unsqueeze(1)
    classes = torch.arange(probs.shape[1], device=probs.device).view(1, -1, 1, 1)
    label = torch.where(is_max, classes, probs.shape[1]).min(dim=1).values
    return probs, confidence, label
