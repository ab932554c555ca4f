"""Operators of U2PL ("Semi-Supervised Semantic Segmentation Using Unreliable Pseudo-Labels",
Wang et al., CVPR 2022): entropy split, probability ranks, negative selection, the
pseudo-label loss on reliable pixels, the pixel contrastive losses and U2PL's CutMix box.

Pure functions on tensors; the method (``methods/u2pl.py``) composes them. Notes and
decisions: ``docs/methods/u2pl.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from methods.ops.memory_bank import ClassMemoryBank

IGNORE_INDEX = 255
ENTROPY_EPS = 1e-10
CONTRAST_KINDS = ("infonce", "binary")


def alpha_schedule(alpha_0: float, progress: float) -> float:
    """Percentage of unreliable pixels at training progress ``t / T``: ``alpha_0 (1 - t/T)``."""
    return alpha_0 * (1.0 - min(max(progress, 0.0), 1.0))


def pixel_entropy(probs: Tensor) -> Tensor:
    """Entropy ``-sum_c p_c ln(p_c + 1e-10)`` of ``[B, C, H, W]`` probabilities, ``[B, H, W]``."""
    return -(probs * torch.log(probs + ENTROPY_EPS)).sum(dim=1)


def percentile(values: Tensor, q: float) -> Tensor:
    """``q``-th percentile of all elements with linear interpolation (numpy's default).

    Uses two ``kthvalue`` selections instead of ``torch.quantile``, which refuses inputs
    above 2^24 elements (a Cityscapes batch is larger).

    Raises:
        ValueError: On an empty input or ``q`` outside ``[0, 100]``.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    flat = values.flatten()
    if flat.numel() == 0:
        raise ValueError("percentile of an empty tensor")
    position = q / 100.0 * (flat.numel() - 1)
    lower = math.floor(position)
    upper = min(lower + 1, flat.numel() - 1)
    low_value = flat.kthvalue(lower + 1).values
    high_value = flat.kthvalue(upper + 1).values if upper != lower else low_value
    return low_value + (high_value - low_value) * (position - lower)


@dataclass
class EntropySplit:
    """Reliable / unreliable pixels of one unlabeled batch (all masks ``[B, H, W]`` bool).

    Attributes:
        reliable: ``H <= percentile(H, alpha_t)``: the anchor candidates.
        unreliable: ``H >= percentile(H, 100 - alpha_t)``: dropped from the pseudo-label
            loss, the source of unlabeled negatives.
        low_threshold: ``percentile(H, alpha_t)``.
        high_threshold: ``gamma_t = percentile(H, 100 - alpha_t)``.
    """

    reliable: Tensor
    unreliable: Tensor
    low_threshold: Tensor
    high_threshold: Tensor


def entropy_split(entropy: Tensor, valid: Tensor, alpha: float) -> EntropySplit:
    """Split the valid pixels of a batch by entropy percentiles over the whole batch.

    Args:
        entropy: ``[B, H, W]`` pixel entropies.
        valid: ``[B, H, W]`` bool, True on real (non-padded) pixels; only these enter the
            percentiles and the masks.
        alpha: ``alpha_t`` in percent.

    Returns:
        The masks and thresholds; with no valid pixel both masks are empty.
    """
    values = entropy[valid]
    if values.numel() == 0:
        inf = entropy.new_tensor(float("inf"))
        empty = torch.zeros_like(valid)
        return EntropySplit(empty, empty, -inf, inf)
    low = percentile(values, alpha)
    high = percentile(values, 100.0 - alpha)
    return EntropySplit(reliable=(entropy <= low) & valid, unreliable=(entropy >= high) & valid,
                        low_threshold=low, high_threshold=high)


def reliable_pseudo_label_loss(logits: Tensor, target: Tensor, unreliable: Tensor,
                               valid: Tensor) -> Tensor:
    """Pseudo-label CE without the unreliable pixels, with U2PL's code reduction.

    ``L_u = (|V| / |K|) * (1/|K|) sum_{i in K} CE_i`` where ``K`` are the valid pixels that
    are not unreliable and ``V`` all valid pixels (the official code's
    ``B*H*W / |K| * meanCE_K``, with padding left out of both counts). 0 when ``K`` is empty.

    Args:
        logits: ``[B, C, H, W]`` student logits.
        target: ``[B, H, W]`` hard pseudo-labels.
        unreliable: ``[B, H, W]`` bool, pixels to drop.
        valid: ``[B, H, W]`` bool, real pixels.
    """
    kept = valid & ~unreliable
    safe_target = torch.where(kept, target, torch.zeros_like(target))
    per_pixel = F.cross_entropy(logits, safe_target, reduction="none")
    num_kept = kept.sum().clamp(min=1).float()
    return (per_pixel * kept.float()).sum() * valid.sum().float() / num_kept ** 2


def class_ranks(probs: Tensor) -> Tensor:
    """Rank of every class in the descending order of its pixel's probabilities.

    Rank 0 is the most likely class; equal probabilities rank the lower class index first.

    Args:
        probs: ``[B, C, H, W]`` probabilities.

    Returns:
        LongTensor ``[B, C, H, W]``.
    """
    order = torch.sort(probs, dim=1, descending=True, stable=True).indices
    positions = torch.arange(probs.shape[1], device=probs.device).view(1, -1, 1, 1)
    return torch.empty_like(order).scatter_(1, order, positions.expand_as(order))


def negative_masks(labels: Tensor, unreliable: Tensor, ranks: Tensor, num_labeled: int,
                   low_rank: int, high_rank: int) -> Tensor:
    """Per class, the pixels whose teacher features become negatives of that class.

    * labeled images (the first ``num_labeled``): ground truth known and not ``c``, and ``c``
      among the teacher's top ``low_rank`` classes (``rank < r_l``);
    * unlabeled images: unreliable pixels where the rank of ``c`` lies in ``[r_l, r_h)``.

    Args:
        labels: ``[B, h, w]`` labels (ground truth, then pseudo-labels), 255 = ignore.
        unreliable: ``[B, h, w]`` bool unreliable mask (read for unlabeled images only).
        ranks: ``[B, C, h, w]`` from :func:`class_ranks` of the teacher probabilities.
        num_labeled: Number of labeled images at the front of the batch.
        low_rank: ``r_l``.
        high_rank: ``r_h``.

    Returns:
        ``[B, C, h, w]`` bool.
    """
    classes = torch.arange(ranks.shape[1], device=ranks.device).view(1, -1, 1, 1)
    label = labels.unsqueeze(1)
    labeled = (label != IGNORE_INDEX) & (label != classes) & (ranks < low_rank)
    unlabeled = unreliable.unsqueeze(1) & (ranks >= low_rank) & (ranks < high_rank)
    is_labeled = torch.arange(labels.shape[0], device=labels.device) < num_labeled
    return torch.where(is_labeled.view(-1, 1, 1, 1), labeled, unlabeled)


def contrastive_loss(anchors: Tensor, positive: Tensor, negatives: Tensor,
                     temperature: float, kind: str = "infonce") -> Tensor:
    """Pixel contrastive loss of one class, averaged over its anchors.

    With cosine similarities ``s+_i = cos(a_i, k+)`` and ``s-_ij = cos(a_i, n_ij)``:

    * ``"infonce"`` (``L_c``): ``mean_i -log[e^{s+_i/tau} / (e^{s+_i/tau} + sum_j e^{s-_ij/tau})]``;
    * ``"binary"`` (``L_b``, the supplement's eq. 1):
      ``mean_{i,j} -log[e^{s+_i/tau} / (e^{s+_i/tau} + e^{s-_ij/tau})]``.

    Args:
        anchors: ``[M, D]`` anchor features (student, with gradient).
        positive: ``[D]`` positive key (teacher class centre, detached).
        negatives: ``[M, N, D]`` negative keys (teacher features from the memory bank).
        temperature: ``tau``.
        kind: ``"infonce"`` or ``"binary"``.
    """
    if kind not in CONTRAST_KINDS:
        raise ValueError(f"contrastive loss kind must be one of {CONTRAST_KINDS}, got {kind}")
    pos_sim = F.cosine_similarity(anchors, positive.unsqueeze(0), dim=1)            # [M]
    neg_sim = F.cosine_similarity(anchors.unsqueeze(1), negatives, dim=2)           # [M, N]
    if kind == "binary":
        return F.softplus((neg_sim - pos_sim.unsqueeze(1)) / temperature).mean()
    logits = torch.cat([pos_sim.unsqueeze(1), neg_sim], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros_like(pos_sim, dtype=torch.long))


def class_contrastive_loss(student_rep: Tensor, teacher_rep: Tensor, teacher_probs: Tensor,
                           labels: Tensor, candidates: Tensor, bank: ClassMemoryBank,
                           num_anchors: int, num_negatives: int, anchor_threshold: float,
                           temperature: float, kind: str = "infonce") -> tuple[Tensor, int]:
    """U2PL's contrastive loss over all classes, with negatives from the memory bank.

    For class ``c``, with ``V_c = {label = c} & candidates``: anchors are drawn uniformly with
    replacement from the student features of ``V_c & {p_T(c) > delta_p}``, the positive key
    is the mean teacher feature over ``V_c``, and ``num_anchors * num_negatives`` negatives are
    drawn uniformly with replacement from bank ``c``. Classes with ``|V_c| > 0`` are *valid*;
    valid classes without anchors or with an empty bank contribute 0. The result is the sum
    over classes divided by the number of valid classes, and 0 if at most one class is valid.

    Args:
        student_rep: ``[B, D, h, w]`` student representations.
        teacher_rep: ``[B, D, h, w]`` teacher representations (no gradient).
        teacher_probs: ``[B, C, h, w]`` teacher probabilities.
        labels: ``[B, h, w]`` labels, 255 = ignore.
        candidates: ``[B, h, w]`` bool, pixels that may be anchors (``low_mask``).
        bank: The class-wise memory bank (already holding this batch's negatives).
        num_anchors: Anchors per class (``M``).
        num_negatives: Negatives per anchor (``N``).
        anchor_threshold: ``delta_p``.
        temperature: ``tau``.
        kind: ``"infonce"`` or ``"binary"``.

    Returns:
        The loss (connected to ``student_rep`` even when 0) and the number of valid classes.
    """
    student_feats = student_rep.permute(0, 2, 3, 1)
    teacher_feats = teacher_rep.permute(0, 2, 3, 1)
    total = (student_rep * 0.0).sum()
    num_valid = 0
    for c in range(teacher_probs.shape[1]):
        members = (labels == c) & candidates
        if not bool(members.any()):
            continue
        num_valid += 1
        pool = student_feats[members & (teacher_probs[:, c] > anchor_threshold)]
        if pool.shape[0] == 0 or bank.size(c) == 0:
            continue
        anchors = pool[torch.randint(pool.shape[0], (num_anchors,), device=pool.device)]
        negatives = bank.sample(c, num_anchors * num_negatives)
        negatives = negatives.view(num_anchors, num_negatives, -1)
        positive = teacher_feats[members].mean(dim=0).detach()
        total = total + contrastive_loss(anchors, positive, negatives, temperature, kind)
    if num_valid <= 1:
        return (student_rep * 0.0).sum(), num_valid
    return total / num_valid, num_valid


def u2pl_cutmix_boxes(batch: int, height: int, width: int,
                      device: torch.device | str = "cpu") -> Tensor:
    """U2PL's CutMix box per image: half the image area, 1 inside (pixels from the partner).

    Width ``w ~ randint(int(W/2 + 1), W - 1)`` (inclusive), height ``h = round(HW/2 / w)``,
    corner uniform inside the image. The partner of image ``b`` is ``(b + 1) mod B``.

    Returns:
        ``[batch, H, W]`` float.
    """
    boxes = torch.zeros(batch, height, width)
    area = height * width / 2
    for b in range(batch):
        box_w = int(torch.randint(int(width / 2 + 1), width, ()))
        box_h = min(int(round(area / box_w)), height)
        left = int(torch.randint(0, width - box_w + 1, ()))
        top = int(torch.randint(0, height - box_h + 1, ()))
        boxes[b, top:top + box_h, left:left + box_w] = 1.0
    return boxes.to(device)


def next_image_partner(batch: int) -> Tensor:
    """Partner indices ``(b + 1) mod B`` of U2PL's CutMix."""
    return (torch.arange(batch) + 1) % batch
