"""Photometric augmentation of already normalised batches (colour jitter, grayscale, blur).

The same recipe as the data pipeline's strong views (UniMatch: ColorJitter(0.5, 0.5,
0.5, 0.25) w.p. 0.8, grayscale w.p. 0.2, Gaussian blur with sigma ~ U(0.1, 2.0) w.p.
0.5), for images composed inside a method (e.g. after UPC's patch pasting). Each image
draws its own parameters from torch's global generator.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.transforms import v2 as T


def photometric_augment(images: Tensor, mean: Tensor, std: Tensor,
                        blur_kernel: int = 13) -> Tensor:
    """Augment normalised RGB images ``[B, 3, H, W]``, returning normalised images.

    Args:
        images: ``(x - mean) / std`` with ``x`` in 0..255, RGB.
        mean: Per-channel mean, broadcastable to ``images`` (the preprocessor's).
        std: Per-channel std, same shape as ``mean``.
        blur_kernel: Odd Gaussian kernel size (the protocol's strong-view kernel).
    """
    augment = T.Compose([
        T.RandomApply([T.ColorJitter(0.5, 0.5, 0.5, 0.25)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([T.GaussianBlur(blur_kernel, sigma=(0.1, 2.0))], p=0.5),
    ])
    with torch.no_grad():
        pixels = (images * std + mean).clamp(0, 255).round().to(torch.uint8)
        augmented = torch.stack([augment(image) for image in pixels]).float()
    return (augmented - mean) / std
