"""The strong photometric recipe shared by the data pipeline and the methods.

UniMatch's strong view (LiheYoung/UniMatch ``dataset/transform.py``): colour jitter
(brightness, contrast, saturation 0.5, hue 0.25) with p 0.8, grayscale with p 0.2,
Gaussian blur with sigma ~ U(0.1, 2.0) with p 0.5. The probabilities and the sigma range
are arguments so that a protocol can scale them to its resolution (``strong_aug``).
"""

from __future__ import annotations

from torchvision.transforms import v2 as T

PAPER_BLUR_SIGMA = (0.1, 2.0)


def photometric_recipe(blur_kernel: int = 13, jitter_p: float = 0.8, grayscale_p: float = 0.2,
                       blur_p: float = 0.5,
                       blur_sigma: tuple[float, float] = PAPER_BLUR_SIGMA) -> T.Compose:
    """The strong photometric transform on uint8 RGB tensors ``[3, H, W]``.

    Args:
        blur_kernel: Odd Gaussian kernel size.
        jitter_p: Probability of the colour jitter.
        grayscale_p: Probability of the grayscale conversion.
        blur_p: Probability of the Gaussian blur.
        blur_sigma: ``(min, max)`` of the blur's sigma in pixels.
    """
    return T.Compose([
        T.RandomApply([T.ColorJitter(0.5, 0.5, 0.5, 0.25)], p=jitter_p),
        T.RandomGrayscale(p=grayscale_p),
        T.RandomApply([T.GaussianBlur(blur_kernel, sigma=tuple(blur_sigma))], p=blur_p),
    ])
