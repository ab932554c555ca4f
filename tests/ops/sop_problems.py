"""Small SOP-structured inputs and independent references (POT, a literal Alg. 1) for tests."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from methods.ops.sinkhorn import allocation_histogram
from methods.ops.sop_perturbation import (
    build_patch_layout,
    gather_patches,
    sample_interpolation_weight,
    softmax_mining_histogram,
    sop_target_distribution,
)


def smooth_logits(
    batch: int, num_classes: int, size: int, seed: int, sharpness: float = 6.0, cells: int = 4
) -> Tensor:
    """Teacher-like logits: smooth random class fields, a few argmax classes per patch."""
    generator = torch.Generator().manual_seed(seed)
    fields = torch.randn(batch, num_classes, cells, cells, generator=generator)
    return F.interpolate(sharpness * fields, size=(size, size), mode="bilinear",
                         align_corners=True)


def sop_problems(
    logits: Tensor, grid: int, seed: int, pad_mask: Tensor | None = None, phi: float = 0.4
) -> tuple[Tensor, Tensor, Tensor]:
    """``(log_probs [n, D, c], row_valid [n, D], p_sop [n, c])`` built as SOP builds them."""
    valid = torch.ones(logits.shape[0], *logits.shape[2:], dtype=torch.bool)
    if pad_mask is not None:
        valid = ~pad_mask
    layout = build_patch_layout(valid, grid)
    row_valid = layout.row_valid()
    log_probs = gather_patches(torch.log_softmax(logits, dim=1), layout)
    argmax_hist = allocation_histogram(log_probs.argmax(2), row_valid, logits.shape[1])
    mined_hist = softmax_mining_histogram(log_probs.exp(), row_valid, argmax_hist)
    weight = sample_interpolation_weight(
        layout.num_patches, phi=phi, generator=torch.Generator().manual_seed(seed)
    )
    return log_probs, row_valid, sop_target_distribution(argmax_hist, mined_hist, weight)


def pot_plans(
    log_probs: Tensor,
    row_valid: Tensor,
    target: Tensor,
    epsilon: float,
    iters: int,
    stop_threshold: float = 0.0,
) -> list[tuple[np.ndarray, Tensor]]:
    """POT float64 ``sinkhorn_log`` per problem on its valid rows and positive-target columns.

    ``stop_threshold = 0`` runs exactly ``iters`` iterations.

    Returns ``(plan [d_n, k], kept_classes [k])`` per problem with valid rows, else ``None``.
    """
    import ot

    plans = []
    for n in range(log_probs.shape[0]):
        num_rows = int(row_valid[n].sum())
        if num_rows == 0:
            plans.append(None)
            continue
        kept = (target[n] > 0).nonzero().squeeze(1)
        b = target[n, kept].double()
        cost = -log_probs[n][row_valid[n]][:, kept].double()
        a = np.full(num_rows, 1.0 / num_rows)
        plan = ot.sinkhorn(a, (b / b.sum()).numpy(), cost.numpy(), reg=epsilon,
                           method="sinkhorn_log", numItermax=iters, stopThr=stop_threshold,
                           warn=False)
        plans.append((plan, kept))
    return plans


def reference_alg1(
    log_probs: Tensor, target: Tensor, epsilon: float, iters: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Literal float64 Alg. 1 without padding rows; returns ``(p, q, Y*)``."""
    kernel_log = log_probs.double() / epsilon
    n, num_rows, _ = log_probs.shape
    log_a = torch.full((n, num_rows, 1), -np.log(num_rows), dtype=torch.float64)
    log_b = torch.log(target.double())[:, :, None]
    p = torch.zeros(n, num_rows, 1, dtype=torch.float64)
    q = torch.zeros_like(log_b)
    for _ in range(iters):
        q = log_b - torch.logsumexp(kernel_log + p, 1)[:, :, None]
        p = log_a - torch.logsumexp(kernel_log + q.transpose(1, 2), 2)[:, :, None]
    plan = torch.exp(p + kernel_log + q.transpose(1, 2))
    return p.squeeze(2), q.squeeze(2), plan
