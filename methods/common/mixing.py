"""CutMix mixing of images and every per-pixel map with the same boxes.

See docs/methods/README.md#data-pipeline.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mix_maps(box: Tensor, main: Tensor, partner: Tensor) -> Tensor:
    """Take ``partner`` inside the box and ``main`` outside.

    Args:
        box: ``[B, H, W]``, nonzero where pixels come from the partner.
        main: ``[B, H, W]`` map or ``[B, C, H, W]`` image/probabilities.
        partner: Same shape as ``main``.

    Returns:
        The mixed tensor, same shape and dtype as ``main``.
    """
    inside = box.bool()
    if main.dim() == 4:
        inside = inside.unsqueeze(1)
    return torch.where(inside, partner, main)
