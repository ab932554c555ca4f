"""Photometric augmentation of already normalised batches (colour jitter, grayscale, blur).

The same recipe as the data pipeline's strong views
(:func:`benchmark.data.photometric.photometric_recipe`: UniMatch's colour jitter w.p. 0.8,
grayscale w.p. 0.2, Gaussian blur w.p. 0.5, with the protocol's sigma range), for images
composed inside a method (e.g. after UPC's patch pasting). Each image draws its own
parameters from torch's global generator.
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.data.photometric import PAPER_BLUR_SIGMA, photometric_recipe


def photometric_augment(images: Tensor, mean: Tensor, std: Tensor,
                        blur_kernel: int = 13,
                        blur_sigma: tuple[float, float] = PAPER_BLUR_SIGMA) -> Tensor:
    """Augment normalised RGB images ``[B, 3, H, W]``, returning normalised images.

    Args:
        images: ``(x - mean) / std`` with ``x`` in 0..255, RGB.
        mean: Per-channel mean, broadcastable to ``images`` (the preprocessor's).
        std: Per-channel std, same shape as ``mean``.
        blur_kernel: Odd Gaussian kernel size (the protocol's strong-view kernel).
        blur_sigma: Range of the blur's sigma (the protocol's strong-view range).
    """
    augment = photometric_recipe(blur_kernel, blur_sigma=blur_sigma)
    with torch.no_grad():
        pixels = (images * std + mean).clamp(0, 255).round().to(torch.uint8)
        augmented = torch.stack([augment(image) for image in pixels]).float()
    return (augmented - mean) / std
