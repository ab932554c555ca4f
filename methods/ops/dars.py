"""DARS pseudo-label selection: distribution alignment and random sampling.

He, Yang and Qi, "Re-distributing Biased Pseudo Labels for Semi-supervised Semantic
Segmentation: A Baseline Investigation", ICCV 2021 (arXiv:2107.11279), Algorithm 1.

Given the teacher's argmax label ``ŷ`` and confidence ``conf`` on every unlabeled pixel
and the class distribution ``r`` of the labeled set, DARS keeps ``n_j = ⌊α·r_j·P_u⌋``
pixels of each class ``j`` (``P_u`` unlabeled pixels, ``α`` the labeling ratio):

1. class-wise threshold ``t_j``: the ``n_j``-th largest confidence among pixels with
   ``ŷ = j`` (the smallest one if fewer than ``n_j`` exist; no pixel kept if ``n_j = 0``);
2. random sampling: ties at ``t_j`` (confidences saturate at 1) leave ``K_j ≥ n_j``
   pixels above the threshold; a uniformly random subset of ``n_j`` of them is kept
   (sampling ratio ``s_j = min(1, n_j / K_j)``), the rest become 255.

Confidences are compared as float16 values, as in the official code (which stores the
teacher outputs in float16). Thresholds then come from an exact per-class histogram over
the 15 361 float16 codes of ``[0, 1]``, so the selection streams over a dataset that does
not fit in memory: :func:`confidence_histogram` per image, :func:`class_thresholds` once,
:func:`candidate_counts` per image, :func:`sampling_quotas` once, :func:`apply_selection`
per image. :func:`dars_select` composes these steps on in-memory tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

IGNORE_INDEX = 255
NUM_CODES = 15361  # float16 bit patterns of [0, 1]: 0x0000 .. 0x3C00
SAMPLING_MODES = ("exact", "per_image")


def confidence_codes(confidence: Tensor) -> Tensor:
    """Order-preserving integer codes of confidences in ``[0, 1]`` (their float16 bits)."""
    half = confidence.detach().clamp(0.0, 1.0).to(torch.float16)
    return half.view(torch.int16).long()


def code_to_confidence(codes: Tensor) -> Tensor:
    """Float value of codes from :func:`confidence_codes` (``NUM_CODES`` maps to 2.0)."""
    clipped = codes.clamp(max=NUM_CODES - 1).to(torch.int16)
    values = clipped.view(torch.float16).float()
    return torch.where(codes >= NUM_CODES, torch.full_like(values, 2.0), values)


def labeled_class_distribution(labels: Sequence[Tensor] | Tensor, num_classes: int,
                               ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Fraction ``r_j`` of each class among the valid (non-ignored) labeled pixels.

    Args:
        labels: Label maps (any shape, integer), one tensor or a sequence of them.
        num_classes: ``C``; values ``>= C`` other than ``ignore_index`` are an error.
        ignore_index: Label of ignored pixels.

    Returns:
        Float64 ``[C]`` summing to 1 (all zeros if no pixel is valid).
    """
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for label in [labels] if isinstance(labels, Tensor) else labels:
        valid = label[label != ignore_index].long().flatten()
        if valid.numel() and int(valid.max()) >= num_classes:
            raise ValueError(f"label {int(valid.max())} outside 0..{num_classes - 1}")
        counts += torch.bincount(valid, minlength=num_classes).double().cpu()
    return counts / counts.sum().clamp(min=1)


def target_counts(distribution: Tensor, alpha: float, num_pixels: int) -> Tensor:
    """``n_j = ⌊α·r_j·P_u⌋``, LongTensor ``[C]``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return torch.floor(distribution.double() * alpha * num_pixels + 1e-9).long()


def confidence_histogram(label: Tensor, confidence: Tensor, num_classes: int,
                         valid: Tensor | None = None) -> Tensor:
    """Count pixels per (predicted class, confidence code), LongTensor ``[C, NUM_CODES]``.

    Args:
        label: Argmax labels ``ŷ`` (any shape).
        confidence: ``max_c p_c`` (same shape).
        num_classes: ``C``.
        valid: Optional bool mask of pixels that take part (others are not counted).
    """
    keys = label.long() * NUM_CODES + confidence_codes(confidence)
    if valid is not None:
        keys = keys[valid]
    counts = torch.bincount(keys.flatten().cpu(), minlength=num_classes * NUM_CODES)
    return counts.view(num_classes, NUM_CODES)


@dataclass
class ClassThresholds:
    """Class-wise thresholds from :func:`class_thresholds` (all ``[C]``).

    Attributes:
        codes: Threshold codes; a pixel of class ``j`` is a candidate iff its code is
            ``>= codes[j]`` (``NUM_CODES`` keeps none).
        values: The thresholds ``t_j`` as confidences (2.0 where none is kept).
        candidates: ``K_j``, pixels of class ``j`` at or above ``t_j``.
        targets: ``n_j``.
        predicted: Pixels predicted as class ``j`` (any confidence).
    """

    codes: Tensor
    values: Tensor
    candidates: Tensor
    targets: Tensor
    predicted: Tensor

    @property
    def kept(self) -> Tensor:
        """Pixels kept per class after sampling: ``min(n_j, K_j)``."""
        return torch.minimum(self.targets, self.candidates)

    @property
    def sampling_ratio(self) -> Tensor:
        """``s_j = min(1, n_j / K_j)`` (1 where ``K_j = 0``)."""
        ratio = self.targets.double() / self.candidates.double().clamp(min=1)
        return ratio.clamp(max=1.0)

    @property
    def overflow(self) -> Tensor:
        """Bool ``[C]``: fewer pixels were predicted as ``j`` than ``n_j``."""
        return self.predicted < self.targets


def class_thresholds(histogram: Tensor, targets: Tensor) -> ClassThresholds:
    """Thresholds ``t_j`` = the ``n_j``-th largest confidence of class ``j``.

    Overflow (``n_j`` above the number of pixels predicted as ``j``) keeps every such
    pixel (``t_j`` = their smallest confidence); ``n_j = 0`` keeps none.

    Args:
        histogram: ``[C, NUM_CODES]`` from :func:`confidence_histogram` (summed over images).
        targets: ``n_j``, LongTensor ``[C]``.
    """
    histogram = histogram.long()
    at_or_above = histogram.flip(1).cumsum(1).flip(1)  # [j, c] = #pixels of j with code >= c
    predicted = at_or_above[:, 0]
    codes = torch.full_like(targets, NUM_CODES)
    for j in range(histogram.shape[0]):
        n_j, count_j = int(targets[j]), int(predicted[j])
        if n_j == 0 or count_j == 0:
            continue
        reaching = (at_or_above[j] >= min(n_j, count_j)).nonzero()
        codes[j] = int(reaching.max())
    candidates = torch.where(codes < NUM_CODES,
                             at_or_above.gather(1, codes.clamp(max=NUM_CODES - 1)[:, None])[:, 0],
                             torch.zeros_like(codes))
    return ClassThresholds(codes, code_to_confidence(codes), candidates, targets.long(), predicted)


def candidate_mask(label: Tensor, confidence: Tensor, threshold_codes: Tensor) -> Tensor:
    """Bool mask of pixels whose confidence reaches their class's threshold."""
    return confidence_codes(confidence) >= threshold_codes.to(label.device)[label.long()]


def candidate_counts(label: Tensor, confidence: Tensor, threshold_codes: Tensor,
                     valid: Tensor | None = None) -> Tensor:
    """Candidates per class in one image, LongTensor ``[C]`` (``m_j`` of that image)."""
    keep = candidate_mask(label, confidence, threshold_codes)
    if valid is not None:
        keep &= valid
    return torch.bincount(label[keep].long().flatten().cpu(), minlength=len(threshold_codes))


def sampling_quotas(counts: Tensor, thresholds: ClassThresholds, mode: str = "exact",
                    seed: int = 0) -> Tensor:
    """How many candidates of each class every image keeps, LongTensor ``[N, C]``.

    ``"exact"`` draws the quotas of a uniformly random subset of ``min(n_j, K_j)``
    candidates out of all ``K_j`` (a multivariate hypergeometric draw over images), so
    the pseudo-labels hold exactly that many pixels of class ``j``. ``"per_image"`` is
    the official code's rule: an image with ``m`` candidates of class ``j`` ignores
    ``int(m - m·s_j)`` of them.

    Args:
        counts: Candidates per image and class, ``[N, C]`` (rows of :func:`candidate_counts`).
        thresholds: Output of :func:`class_thresholds` for the same images.
        mode: ``"exact"`` or ``"per_image"``.
        seed: Seed of the hypergeometric draw.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"sampling mode must be one of {SAMPLING_MODES}, got {mode!r}")
    counts = counts.long().cpu()
    if mode == "per_image":
        ratio = thresholds.sampling_ratio.cpu()[None, :]
        dropped = torch.trunc(counts.double() - counts.double() * ratio).long()
        return counts - dropped
    rng = np.random.default_rng(seed)
    quotas = torch.zeros_like(counts)
    for j in range(counts.shape[1]):
        keep = int(thresholds.kept[j])
        column = counts[:, j].numpy()
        if keep >= column.sum():
            quotas[:, j] = counts[:, j]
        elif keep > 0:
            quotas[:, j] = torch.from_numpy(_hypergeometric_split(column, keep, rng))
    return quotas


def _hypergeometric_split(colors: np.ndarray, nsample: int, rng: np.random.Generator) -> np.ndarray:
    """Counts per colour of a uniform random ``nsample``-subset of ``Σ colors`` items.

    numpy's exact sampler needs ``Σ colors < 10**9``; beyond that (whole-dataset
    candidate counts of a head class on Cityscapes), each colour gets its expected share
    ``⌊nsample·c_i/Σc⌋`` and the few remaining items go to colours drawn with
    probability proportional to the fractional parts: the same total, and a deviation
    from the exact draw far below its own standard deviation at that scale.
    """
    colors = colors.astype(np.int64)
    total = int(colors.sum())
    if total < 10**9:
        return rng.multivariate_hypergeometric(colors, nsample, method="marginals")
    products = [int(c) * nsample for c in colors]
    base = np.array([p // total for p in products], dtype=np.int64)
    fractions = np.array([(p % total) / total for p in products])
    remainder = nsample - int(base.sum())
    if remainder:
        extra = rng.choice(len(colors), remainder, replace=False, p=fractions / fractions.sum())
        base[extra] += 1
    return base


def apply_selection(label: Tensor, confidence: Tensor, threshold_codes: Tensor, quota: Tensor,
                    generator: torch.Generator | None = None,
                    valid: Tensor | None = None) -> Tensor:
    """One image's DARS pseudo-label: thresholding, then ``quota[j]`` random candidates.

    Args:
        label: ``ŷ`` of the image, ``[H, W]``.
        confidence: ``conf`` of the image, ``[H, W]``.
        threshold_codes: ``[C]`` from :class:`ClassThresholds`.
        quota: ``[C]`` candidates kept per class (a row of :func:`sampling_quotas`).
        generator: CPU generator of the uniform choice among candidates.
        valid: Optional bool mask; invalid pixels become 255.

    Returns:
        LongTensor ``[H, W]`` with 255 on dropped pixels.
    """
    label = label.long()
    candidates = candidate_mask(label, confidence, threshold_codes)
    if valid is not None:
        candidates &= valid
    flat_label = label.flatten().cpu()
    flat_candidates = candidates.flatten().cpu()
    kept = torch.zeros_like(flat_candidates)
    for j in range(len(quota)):
        positions = (flat_candidates & (flat_label == j)).nonzero()[:, 0]
        take = min(int(quota[j]), positions.numel())
        if take == positions.numel():
            kept[positions] = True
        elif take > 0:
            order = torch.randperm(positions.numel(), generator=generator)
            kept[positions[order[:take]]] = True
    pseudo = torch.where(kept, flat_label, torch.full_like(flat_label, IGNORE_INDEX))
    return pseudo.view(label.shape).to(label.device)


def kl_divergence(reference: Tensor, other: Tensor, eps: float = 1e-12) -> float:
    """``D_KL(reference ‖ other) = Σ_j p_j log(p_j / q_j)``, natural log.

    Classes absent from ``reference`` contribute 0; a class absent from ``other`` but
    present in ``reference`` counts with ``q_j = eps`` (finite but large).
    """
    p = reference.double() / reference.double().sum().clamp(min=1e-300)
    q = other.double() / other.double().sum().clamp(min=1e-300)
    present = p > 0
    return float((p[present] * (p[present] / q[present].clamp(min=eps)).log()).sum())


def class_counts(labels: Sequence[Tensor] | Tensor, num_classes: int) -> Tensor:
    """Pixels per class of label maps (255 ignored), LongTensor ``[C]``."""
    counts = torch.zeros(num_classes, dtype=torch.long)
    for label in [labels] if isinstance(labels, Tensor) else labels:
        kept = label[label != IGNORE_INDEX].long().flatten().cpu()
        counts += torch.bincount(kept, minlength=num_classes)
    return counts


@dataclass
class DARSResult:
    """Output of :func:`dars_select`.

    Attributes:
        pseudo_label: LongTensor ``[N, H, W]``, 255 on pixels left unlabeled.
        thresholds: The class thresholds, targets and candidate counts.
        quotas: ``[N, C]`` pixels kept per image and class.
        kl: ``D_KL(r^l ‖ r^u)`` between the labeled and the pseudo-label distribution.
    """

    pseudo_label: Tensor
    thresholds: ClassThresholds
    quotas: Tensor
    kl: float


def dars_select(label: Tensor, confidence: Tensor, distribution: Tensor, alpha: float,
                valid: Tensor | None = None, mode: str = "exact", seed: int = 0) -> DARSResult:
    """DARS pseudo-labels of a whole (in-memory) unlabeled set.

    Args:
        label: Argmax labels ``ŷ``, ``[N, H, W]``.
        confidence: ``conf = max_c p_c``, ``[N, H, W]``.
        distribution: Labeled class distribution ``r``, ``[C]``.
        alpha: Labeling ratio ``α`` in ``[0, 1]``.
        valid: Optional ``[N, H, W]`` bool mask of real pixels (``P_u`` counts them).
        mode: Sampling mode of :func:`sampling_quotas`.
        seed: Seed of the quotas and of the per-image choice (one generator, images in
            order).

    Returns:
        The :class:`DARSResult`.
    """
    num_classes = len(distribution)
    masks = [None] * len(label) if valid is None else list(valid)
    num_pixels = label.numel() if valid is None else int(valid.sum())
    histogram = sum(confidence_histogram(lab, conf, num_classes, m)
                    for lab, conf, m in zip(label, confidence, masks))
    thresholds = class_thresholds(histogram, target_counts(distribution, alpha, num_pixels))
    counts = torch.stack([candidate_counts(lab, conf, thresholds.codes, m)
                          for lab, conf, m in zip(label, confidence, masks)])
    quotas = sampling_quotas(counts, thresholds, mode, seed)
    generator = torch.Generator().manual_seed(seed)
    pseudo = torch.stack([apply_selection(lab, conf, thresholds.codes, quota, generator, m)
                          for lab, conf, quota, m in zip(label, confidence, quotas, masks)])
    kl = kl_divergence(distribution, class_counts(pseudo, num_classes))
    return DARSResult(pseudo, thresholds, quotas, kl)
