"""UniMatch V2's Complementary Dropout: two channel masks that split the channels between
two views (docs/methods/unimatch_v2.md).

For each of ``B`` image pairs, a Bernoulli(1/2) draw per channel keeps the channel in the
first view's mask and drops it from the second's, or the reverse; kept channels are
scaled by 2 (dropout with p = 1/2), so ``mask_1 + mask_2 = 2`` everywhere and each
channel survives in exactly one of the two views. A random ``1 - drop_ratio`` of the pairs
is left unperturbed (both masks 1), as the official code does.
"""

from __future__ import annotations

import torch
from torch import Tensor


def complementary_channel_masks(num_pairs: int, channels: int, drop_ratio: float = 0.5,
                                device: torch.device | str | None = None,
                                generator: torch.Generator | None = None
                                ) -> tuple[Tensor, Tensor]:
    """Draw the two complementary ``[num_pairs, channels]`` dropout masks.

    Args:
        num_pairs: Images per view (pair ``b`` is image ``b`` of each view).
        channels: Feature channels.
        drop_ratio: Fraction of the pairs that are perturbed (``int(B * drop_ratio)`` of
            them, the official count); the others get masks of ones.
        device: Device of the masks.
        generator: Random generator (None: torch's global one).

    Returns:
        ``(mask_1, mask_2)``, values in ``{0, 1, 2}``; on perturbed pairs each entry is 0
        or 2 and ``mask_1 + mask_2 == 2``.

    Raises:
        ValueError: If ``drop_ratio`` is outside ``[0, 1]``.
    """
    if not 0.0 <= drop_ratio <= 1.0:
        raise ValueError(f"drop_ratio must be in [0, 1], got {drop_ratio}")
    keep_first = torch.rand(num_pairs, channels, device=device, generator=generator) < 0.5
    mask_1 = keep_first.float() * 2.0
    mask_2 = 2.0 - mask_1
    perturbed = torch.zeros(num_pairs, dtype=torch.bool, device=device)
    order = torch.randperm(num_pairs, device=device, generator=generator)
    perturbed[order[:int(num_pairs * drop_ratio)]] = True
    unperturbed = ~perturbed
    mask_1[unperturbed] = 1.0
    mask_2[unperturbed] = 1.0
    return mask_1, mask_2


def complementary_dropout(features: list[Tensor] | tuple[Tensor, ...], drop_ratio: float = 0.5,
                          generator: torch.Generator | None = None) -> list[Tensor]:
    """Apply Complementary Dropout to backbone features of two stacked views ``[v1; v2]``.

    Every ``[2B, C, ...]`` feature is multiplied per sample and channel by
    ``[mask_1; mask_2]``. Features of the same width share one mask pair (for a ViT, the
    four DPT inputs: one mask per image for all layers, as the official code); a backbone
    whose features differ in width (a ResNet) gets one pair per width.

    Args:
        features: Backbone outputs of the batch-concatenation of the two views.
        drop_ratio: See :func:`complementary_channel_masks`.
        generator: Random generator (None: torch's global one).

    Returns:
        The perturbed features, same shapes.
    """
    masks: dict[int, Tensor] = {}
    perturbed = []
    for feature in features:
        batch, channels = feature.shape[:2]
        if channels not in masks:
            pair = complementary_channel_masks(batch // 2, channels, drop_ratio,
                                               feature.device, generator)
            masks[channels] = torch.cat(pair).to(feature.dtype)
        shape = (batch, channels) + (1,) * (feature.dim() - 2)
        perturbed.append(feature * masks[channels].view(shape))
    return perturbed


__all__ = ["complementary_channel_masks", "complementary_dropout"]
