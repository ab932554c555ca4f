"""French et al.'s box-mask generator, used by CutMix-Seg and CPS.

Britefury/cutmix-semisup-seg's ``BoxMaskGenerator``; docs/methods/cutmix_seg.md and
docs/methods/cps.md.

UniMatch's box (one per strong view, generated in the data pipeline) is in
``benchmark.data.transforms.unimatch_cutmix_box``; this one is generated on the fly
on the device, per sample.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def box_masks(batch: int, height: int, width: int, prop_range: tuple[float, float],
              n_boxes: int = 1, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> Tensor:
    """Per-sample box masks (1 inside the boxes, XOR-combined).

    For each box: ``prop ~ U(prop_range)``, ``y_prop = exp(U * ln prop)``,
    ``x_prop = prop / y_prop``, both scaled by ``sqrt(1 / n_boxes)``; size
    ``round(y_prop * H), round(x_prop * W)``; corner ``round((H - h) U), round((W - w) U)``.

    Args:
        batch: Number of masks.
        height: Mask height ``H``.
        width: Mask width ``W``.
        prop_range: Range of the area proportion per mask (``(0.5, 0.5)`` for
            CutMix-Seg, ``(0.25, 0.5)`` for CPS).
        n_boxes: Boxes per mask (their regions are toggled, XOR).
        generator: Random generator for reproducibility.
        device: Device of the result.

    Returns:
        ``[batch, H, W]`` float mask.
    """
    def uniform(*shape):
        return torch.rand(*shape, generator=generator, dtype=torch.float64)

    low, high = prop_range
    props = low + (high - low) * uniform(batch, n_boxes)
    y_prop = torch.exp(uniform(batch, n_boxes) * torch.log(props))
    x_prop = props / y_prop
    scale = math.sqrt(1.0 / n_boxes)
    heights = torch.round(y_prop * scale * height).long()
    widths = torch.round(x_prop * scale * width).long()
    tops = torch.round((height - heights) * uniform(batch, n_boxes)).long()
    lefts = torch.round((width - widths) * uniform(batch, n_boxes)).long()
    masks = torch.zeros(batch, height, width, dtype=torch.bool)
    for b in range(batch):
        for k in range(n_boxes):
            top, left = int(tops[b, k]), int(lefts[b, k])
            h, w = int(heights[b, k]), int(widths[b, k])
            masks[b, top:top + h, left:left + w] ^= True
    return masks.float().to(device)


def shifted_partner(batch: int, generator: torch.Generator | None = None) -> Tensor:
    """Partner indices ``(i + s) mod B`` with a random shift ``s`` in ``1..B-1``.

    Every image is paired with a *different* image of the batch (a permutation with no
    fixed point), as French et al. and CPS intend. With ``B = 1`` the partner is itself.
    """
    if batch < 2:
        return torch.zeros(batch, dtype=torch.long)
    shift = int(torch.randint(1, batch, (1,), generator=generator))
    return (torch.arange(batch) + shift) % batch
