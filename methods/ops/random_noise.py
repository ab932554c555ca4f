"""Random cell-noise baseline for SOP's perturbed labels (docs/methods/random_noise.md)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def num_noise_cells(height: int, width: int, noise_fraction: float, cell: int = 4) -> int:
    """Return ``round(f·⌈h/cell⌉·⌈w/cell⌉)``, rounding halves up."""
    num_cells = math.ceil(height / cell) * math.ceil(width / cell)
    return min(int(math.floor(noise_fraction * num_cells + 0.5)), num_cells)


def random_noise_perturb(
    prediction: Tensor,
    pad_mask: Tensor | None,
    num_classes: int,
    noise_fraction: float,
    cell: int = 4,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Paint randomly chosen ``cell × cell`` cells of the pseudo-label with random classes.

    Per image, ``round(f·#cells)`` of the ``⌈h/cell⌉·⌈w/cell⌉`` cells (aligned to multiples of
    ``cell`` from the top-left corner, the last row/column of cells cropped at the border)
    are picked uniformly without replacement; each picked cell gets one class uniform over all
    ``num_classes``. Every other pixel keeps the full-resolution argmax.

    Args:
        prediction: Teacher logits ``[B, C, H, W]`` (float) or pseudo-label ``[B, H, W]``
            (integer).
        pad_mask: BoolTensor ``[B, H, W]``, True on padded pixels; ``None`` for no padding.
            Padded pixels always keep the pseudo-label (they are ignored by the loss).
        num_classes: Number of classes ``C`` to draw from.
        noise_fraction: Fraction ``f ∈ [0, 1]`` of cells to repaint.
        cell: Cell side in pixels (4 = downsampling by 0.25).
        generator: Source of the cell and class draws; its device is used for the draws.
            ``None`` uses the global CPU generator.

    Returns:
        LongTensor ``[B, H, W]``.
    """
    if not 0.0 <= noise_fraction <= 1.0:
        raise ValueError(f"noise_fraction must be in [0, 1], got {noise_fraction}")
    pseudo_label = prediction.argmax(dim=1) if prediction.dim() == 4 else prediction.long()
    batch, height, width = pseudo_label.shape
    cells_y, cells_x = math.ceil(height / cell), math.ceil(width / cell)
    num_picked = num_noise_cells(height, width, noise_fraction, cell)
    if num_picked == 0:
        return pseudo_label.clone()
    draw_device = generator.device if generator is not None else torch.device("cpu")
    # Uniform picks without replacement: the num_picked smallest of i.i.d. uniform keys.
    keys = torch.rand(batch, cells_y * cells_x, generator=generator, device=draw_device)
    picked = keys.argsort(dim=1)[:, :num_picked]
    classes = torch.randint(
        num_classes, (batch, num_picked), generator=generator, device=draw_device
    )
    cell_label = torch.full((batch, cells_y * cells_x), -1, dtype=torch.long, device=draw_device)
    cell_label.scatter_(1, picked, classes)
    cell_label = cell_label.to(pseudo_label.device).view(batch, cells_y, cells_x)
    noise = cell_label.repeat_interleave(cell, dim=1).repeat_interleave(cell, dim=2)
    noise = noise[:, :height, :width]
    painted = noise >= 0
    if pad_mask is not None:
        painted &= ~pad_mask.to(device=pseudo_label.device, dtype=torch.bool)
    return torch.where(painted, noise, pseudo_label)
