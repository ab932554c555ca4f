"""UPC: uncertainty-aware patch CutMix with the redundant augmentation strategy.

Fang, Zhu, Cheng, Liu, Zhao and Wei, "Locating Noise is Halfway Denoising for
Semi-Supervised Segmentation", ICCV 2023, eq. 1 and 3-7.

Per unlabeled crop: the teacher's entropy map ``H = -Σ_c p_c log p_c`` (natural log) is
cut into an ``N x N`` grid (boundaries ``⌊a·H/N⌋``, ``a = 0..N``); the ``k`` patches with
the largest summed entropy form the mask ``M_k`` (ties go to the lower raster index);
``f(z^u, z^l, M) = z^l ⊙ M + z^u ⊙ (1 - M)`` then replaces those patches of the image and
of its pseudo-label by the co-located patches of a labeled crop and its ground truth
(255s included). The redundant augmentation strategy (RAS) makes one such pair per
``k in (2, 3, 5)``, each with its own labeled partner.

Every function is a pure tensor operation, usable by offline self-training and by an
online host alike (the entropy then comes from the host's teacher on the weak view).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from methods.ops.sop_perturbation import patch_id_map

RAS_KS = (2, 3, 5)


def entropy_map(probs: Tensor) -> Tensor:
    """Per-pixel entropy ``-Σ_c p_c log p_c`` (natural log, ``0 log 0 = 0``).

    Args:
        probs: Class probabilities ``[B, C, H, W]``.

    Returns:
        Float ``[B, H, W]``.
    """
    return torch.special.entr(probs.float()).sum(dim=1)


def patch_uncertainty(entropy: Tensor, grid: int) -> Tensor:
    """Summed entropy ``H_G`` of every patch, ``[B, grid²]`` in raster order."""
    batch, height, width = entropy.shape
    patch_of_pixel = patch_id_map(height, width, grid, entropy.device).flatten()
    scores = torch.zeros(batch, grid * grid, dtype=torch.float64, device=entropy.device)
    scores.index_add_(1, patch_of_pixel, entropy.reshape(batch, -1).double())
    return scores


def top_k_patches(entropy: Tensor, grid: int, k: int) -> Tensor:
    """Raster indices of the ``k`` most uncertain patches, LongTensor ``[B, k]``.

    Ties go to the lower raster index (a stable sort on descending scores).
    """
    if not 0 <= k <= grid * grid:
        raise ValueError(f"k must be in [0, {grid * grid}], got {k}")
    scores = patch_uncertainty(entropy, grid)
    order = torch.sort(-scores, dim=1, stable=True).indices
    return order[:, :k]


def top_k_patch_mask(entropy: Tensor, grid: int, k: int) -> Tensor:
    """``M_k``: bool ``[B, H, W]``, True on the ``k`` most uncertain patches."""
    batch, height, width = entropy.shape
    selected = torch.zeros(batch, grid * grid, dtype=torch.bool, device=entropy.device)
    selected.scatter_(1, top_k_patches(entropy, grid, k), True)
    patch_of_pixel = patch_id_map(height, width, grid, entropy.device)
    return selected[:, patch_of_pixel]


def patch_cutmix(unlabeled: Tensor, labeled: Tensor, mask: Tensor) -> Tensor:
    """``f(z^u, z^l, M) = z^l ⊙ M + z^u ⊙ (1 - M)``.

    Args:
        unlabeled: Images ``[B, C, H, W]`` or maps ``[B, H, W]`` of the unlabeled crops.
        labeled: The labeled partners, same shape.
        mask: ``M``, ``[B, H, W]``, nonzero where the partner is pasted.
    """
    inside = mask.bool()
    if unlabeled.dim() == 4:
        inside = inside.unsqueeze(1)
    return torch.where(inside, labeled, unlabeled)


@dataclass
class UPCPairs:
    """Transformed pairs of :func:`redundant_patch_cutmix`, stacked as ``k``-major.

    Attributes:
        images: ``[K·B, 3, H, W]``: the ``B`` pairs of ``ks[0]``, then of ``ks[1]``...
        labels: ``[K·B, H, W]`` pseudo-label with ground-truth patches.
        masks: ``[K·B, H, W]`` bool, True where the labeled partner was pasted.
        partners: ``[K·B]`` index of the labeled crop used by each pair.
        ks: The patch count of each block of ``B`` pairs.
    """

    images: Tensor
    labels: Tensor
    masks: Tensor
    partners: Tensor
    ks: tuple[int, ...]


def redundant_patch_cutmix(images: Tensor, pseudo_label: Tensor, entropy: Tensor,
                           labeled_images: Tensor, labeled_gt: Tensor, partners: Tensor,
                           ks: Sequence[int] = RAS_KS, grid: int = 4) -> UPCPairs:
    """RAS: one UPC pair per ``k`` in ``ks`` for every unlabeled crop (eq. 7).

    Args:
        images: Unlabeled crops ``x^u``, ``[B, 3, H, W]``.
        pseudo_label: Their pseudo-labels ``ŷ^u``, ``[B, H, W]`` (255 = ignore).
        entropy: Teacher entropy ``H`` on the same crops, ``[B, H, W]`` (0 on padding).
        labeled_images: Labeled crops ``x^l`` of the same size, ``[B_l, 3, H, W]``.
        labeled_gt: Their ground truth ``y^l``, ``[B_l, H, W]``.
        partners: LongTensor ``[B, len(ks)]``: labeled crop pasted into unlabeled crop ``b``
            for ``ks[i]`` (the RAS partners ``i_k``).
        ks: Patch counts, one pair each.
        grid: ``N``, patches per side.

    Returns:
        The :class:`UPCPairs`.
    """
    if partners.shape != (images.shape[0], len(ks)):
        raise ValueError(f"partners must be [B, {len(ks)}], got {tuple(partners.shape)}")
    out_images, out_labels, out_masks = [], [], []
    for i, k in enumerate(ks):
        mask = top_k_patch_mask(entropy, grid, k)
        partner = partners[:, i]
        out_images.append(patch_cutmix(images, labeled_images[partner], mask))
        out_labels.append(patch_cutmix(pseudo_label, labeled_gt[partner].to(pseudo_label.dtype),
                                       mask))
        out_masks.append(mask)
    return UPCPairs(torch.cat(out_images), torch.cat(out_labels), torch.cat(out_masks),
                    partners.t().reshape(-1), tuple(ks))


def draw_partners(num_unlabeled: int, num_labeled: int, num_pairs: int,
                  generator: torch.Generator | None = None) -> Tensor:
    """Labeled partners ``i_k`` for every unlabeled crop, LongTensor ``[B, num_pairs]``.

    Each unlabeled crop gets ``num_pairs`` different labeled crops (uniform without
    replacement), or independent uniform draws when fewer labeled crops exist.
    """
    if num_labeled < 1:
        raise ValueError("UPC needs at least one labeled crop")
    if num_labeled >= num_pairs:
        keys = torch.rand(num_unlabeled, num_labeled, generator=generator)
        return keys.argsort(dim=1)[:, :num_pairs]
    return torch.randint(num_labeled, (num_unlabeled, num_pairs), generator=generator)
