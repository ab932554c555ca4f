"""UPC as an online plug-in: patch the student's input and targets before the host's loss.

Fang et al., "Locating Noise is Halfway Denoising for Semi-Supervised Segmentation",
ICCV 2023, apply UPC inside existing hosts "without changing their training procedures".
Online, the entropy comes from the host's own teacher prediction on the weak view; the
``k`` most uncertain patches of the student's (strong) input and of its targets are
replaced by a labeled crop of the batch and its ground truth, before any CutMix of the
host.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from methods.common.weak_to_strong import PseudoTargets
from methods.ops.upc import draw_partners, entropy_map, patch_cutmix, top_k_patch_mask


def upc_online(student_input: Tensor, targets: PseudoTargets, labeled: Tensor,
               labeled_gt: Tensor, k: int, grid: int = 4,
               generator: torch.Generator | None = None) -> tuple[Tensor, PseudoTargets]:
    """Replace the ``k`` most uncertain patches by a random labeled crop of the batch.

    Args:
        student_input: The student's unlabeled input ``[B, 3, S, S]`` (e.g. a strong view).
        targets: Its targets from the teacher's weak-view prediction (``probs`` give ``H``).
        labeled: Labeled crops of the batch ``[B_l, 3, S, S]``.
        labeled_gt: Their labels ``[B_l, S, S]`` (255 = ignore).
        k: Patches replaced per image.
        grid: ``N``, patches per side.
        generator: Draws the labeled partner of each image.

    Returns:
        The patched input and targets: in pasted pixels the label is the ground truth,
        the confidence 1 and the pixel valid unless the ground truth is 255.
    """
    entropy = entropy_map(targets.probs) * targets.valid
    mask = top_k_patch_mask(entropy, grid, k)
    partner = draw_partners(student_input.shape[0], labeled.shape[0], 1,
                            generator)[:, 0].to(labeled.device)
    gt = labeled_gt[partner].long()
    known = gt != 255
    safe_gt = torch.where(known, gt, torch.zeros_like(gt))
    one_hot = F.one_hot(safe_gt, targets.probs.shape[1]).permute(0, 3, 1, 2).to(targets.probs)
    patched = PseudoTargets(
        probs=patch_cutmix(targets.probs, one_hot, mask),
        confidence=patch_cutmix(targets.confidence, torch.ones_like(targets.confidence), mask),
        label=patch_cutmix(targets.label, safe_gt, mask),
        valid=patch_cutmix(targets.valid, known, mask),
    )
    return patch_cutmix(student_input, labeled[partner], mask), patched
