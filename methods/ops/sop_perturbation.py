"""SOP output perturbation of a teacher's prediction (docs/methods/sop.md).

Pipeline per unmixed batch: split every map into a ``grid × grid`` patch grid, histogram the
argmax labels (``p_oh``) and the mined probabilities (``p_sm``) per patch, interpolate them
with a random signed weight ``b`` into ``p_sop``, and reallocate each patch's pixels to
``p_sop`` with the batched Sinkhorn solver. Padded pixels take part in nothing and keep the
pseudo-label. :func:`oracle_target` is the GT-oracle diagnostic (the paper's appendix A.3)
with the GT class histogram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from methods.ops.sinkhorn import SinkhornInfo, allocation_histogram, sinkhorn_reallocate


@dataclass
class PatchLayout:
    """Where each valid pixel of a ``[B, H, W]`` map sits in the ``[n, D]`` patch problem.

    Patch ``n = b·grid² + gy·grid + gx``; valid pixels of a patch fill its rows ``0..d_n−1``
    in raster order, rows ``d_n..D−1`` are padding.

    Attributes:
        pixel_index: LongTensor ``[V]``, flat index ``b·H·W + y·W + x`` of each valid pixel.
        patch_index: LongTensor ``[V]``, patch of each valid pixel.
        row_index: LongTensor ``[V]``, row of each valid pixel within its patch.
        rows_per_patch: LongTensor ``[n]``, the valid-pixel count ``d_n``.
        max_rows: ``D = max_n d_n`` (at least 1).
        map_shape: ``(B, H, W)``.
    """

    pixel_index: Tensor
    patch_index: Tensor
    row_index: Tensor
    rows_per_patch: Tensor
    max_rows: int
    map_shape: tuple[int, int, int]

    @property
    def num_patches(self) -> int:
        """Number of patches ``n``."""
        return self.rows_per_patch.numel()

    def row_valid(self) -> Tensor:
        """BoolTensor ``[n, D]``: True on rows that hold a valid pixel."""
        rows = torch.arange(self.max_rows, device=self.rows_per_patch.device)
        return rows[None, :] < self.rows_per_patch[:, None]


@dataclass
class SOPResult:
    """Output of :func:`sop_perturb` / :func:`oracle_target`.

    Attributes:
        perturbed_label: LongTensor ``[B, H, W]``, ``y*``; padded pixels hold the pseudo-label.
        changed_fraction: Float scalar tensor, fraction of valid pixels with ``y* ≠ argmax ŷ``.
        target_distribution: Float ``[n, c]``, the transport target per patch.
        interpolation_weight: Float ``[n]``, ``b`` per patch (empty for the oracle).
        solver_info: Diagnostics of the Sinkhorn solve.
    """

    perturbed_label: Tensor
    changed_fraction: Tensor
    target_distribution: Tensor
    interpolation_weight: Tensor
    solver_info: SinkhornInfo


def patch_bounds(size: int, grid: int) -> list[int]:
    """Return the patch boundaries ``⌊a·size/grid⌋`` for ``a = 0..grid``."""
    return [a * size // grid for a in range(grid + 1)]


def patch_id_map(height: int, width: int, grid: int, device: torch.device | str = "cpu") -> Tensor:
    """Return the in-image patch index ``gy·grid + gx`` of every pixel, LongTensor ``[H, W]``."""
    row_band = torch.bucketize(
        torch.arange(height, device=device),
        torch.tensor(patch_bounds(height, grid)[1:-1], device=device), right=True,
    )
    col_band = torch.bucketize(
        torch.arange(width, device=device),
        torch.tensor(patch_bounds(width, grid)[1:-1], device=device), right=True,
    )
    return row_band[:, None] * grid + col_band[None, :]


def build_patch_layout(valid_mask: Tensor, grid: int) -> PatchLayout:
    """Index the valid pixels of a ``[B, H, W]`` mask by patch and row.

    Args:
        valid_mask: BoolTensor ``[B, H, W]``, True on pixels that take part (not padded).
        grid: Patches per side; the map is cut at ``⌊a·H/grid⌋`` and ``⌊a·W/grid⌋``.

    Returns:
        The :class:`PatchLayout` of ``n = B·grid²`` patches.
    """
    batch, height, width = valid_mask.shape
    device = valid_mask.device
    patch_of_pixel = patch_id_map(height, width, grid, device).flatten()
    # Stable order by patch keeps raster order inside each patch.
    patch_major = torch.argsort(patch_of_pixel, stable=True)
    valid_sorted = valid_mask.reshape(batch, height * width)[:, patch_major]
    image, position = valid_sorted.nonzero(as_tuple=True)
    pixel_index = image * (height * width) + patch_major[position]
    patch_index = image * grid * grid + patch_of_pixel[patch_major[position]]
    rows_per_patch = torch.bincount(patch_index, minlength=batch * grid * grid)
    first_row = torch.cumsum(rows_per_patch, 0) - rows_per_patch
    row_index = torch.arange(patch_index.numel(), device=device) - first_row[patch_index]
    max_rows = max(int(rows_per_patch.max()), 1) if rows_per_patch.numel() else 1
    return PatchLayout(
        pixel_index, patch_index, row_index, rows_per_patch, max_rows, (batch, height, width)
    )


def gather_patches(values: Tensor, layout: PatchLayout, fill: float = 0.0) -> Tensor:
    """Gather a per-pixel map into patch rows.

    Args:
        values: ``[B, C, H, W]`` (channels) or ``[B, H, W]`` map.
        layout: Layout from :func:`build_patch_layout` for the same ``B, H, W``.
        fill: Value on padding rows.

    Returns:
        ``[n, D, C]`` (or ``[n, D]``) with the dtype of ``values``.
    """
    if values.dim() == 4:
        flat = values.permute(0, 2, 3, 1).reshape(-1, values.shape[1])
        shape = (layout.num_patches, layout.max_rows, values.shape[1])
    else:
        flat = values.reshape(-1)
        shape = (layout.num_patches, layout.max_rows)
    rows = torch.full(shape, fill, dtype=values.dtype, device=values.device)
    rows[layout.patch_index, layout.row_index] = flat[layout.pixel_index]
    return rows


def scatter_patches(rows: Tensor, layout: PatchLayout, base: Tensor) -> Tensor:
    """Write patch rows ``[n, D]`` back into a copy of the ``[B, H, W]`` map ``base``."""
    out = base.clone().reshape(-1)
    out[layout.pixel_index] = rows[layout.patch_index, layout.row_index].to(out.dtype)
    return out.reshape(base.shape)


def softmax_mining_histogram(probs: Tensor, row_valid: Tensor, argmax_hist: Tensor) -> Tensor:
    """Return ``p_sm = s/‖s‖₁`` with ``s = 1[p_oh > 0] ⊙ Σ_i ŷ_i`` (eq. 4-5), float ``[n, c]``.

    Args:
        probs: Probabilities ``[n, D, c]``.
        row_valid: BoolTensor ``[n, D]``; padding rows are left out of the sum.
        argmax_hist: ``p_oh`` ``[n, c]``.

    Returns:
        ``p_sm``; all zeros for patches without valid pixels.
    """
    summed = (probs * row_valid[..., None]).sum(1) * (argmax_hist > 0)
    return summed / summed.sum(1, keepdim=True).clamp(min=1e-12)


def _sample_log_gamma(shape: float, count: int, generator: torch.Generator | None) -> Tensor:
    """``log`` of ``count`` Gamma(shape, 1) draws, float64, by Marsaglia & Tsang (2000).

    Shapes below 1 use ``Gamma(k) = Gamma(k + 1)·U^(1/k)``, applied in log space.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    boosted = shape < 1.0
    k = shape + 1.0 if boosted else shape
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    log_gamma = torch.empty(count, dtype=torch.float64, device=device)
    pending = torch.arange(count, device=device)
    while pending.numel() > 0:
        normal = torch.randn(
            pending.numel(), generator=generator, dtype=torch.float64, device=device
        )
        uniform = 1.0 - torch.rand(
            pending.numel(), generator=generator, dtype=torch.float64, device=device
        )
        v = (1.0 + c * normal) ** 3
        log_v = torch.log(v.clamp(min=1e-300))
        accept = (v > 0) & (torch.log(uniform) < 0.5 * normal**2 + d - d * v + d * log_v)
        log_gamma[pending[accept]] = math.log(d) + log_v[accept]
        pending = pending[~accept]
    if boosted:
        uniform = 1.0 - torch.rand(count, generator=generator, dtype=torch.float64, device=device)
        log_gamma += torch.log(uniform) / shape
    return log_gamma


def sample_beta(
    count: int, alpha: float, beta: float, generator: torch.Generator | None = None
) -> Tensor:
    """Draw ``count`` samples of Beta(α, β) from ``generator`` (float64, generator's device).

    ``ψ = X/(X+Y)`` with ``X ~ Gamma(α)``, ``Y ~ Gamma(β)`` drawn by rejection from the
    generator's normals and uniforms (``torch.distributions.Beta`` takes no generator).
    ``generator=None`` uses the global CPU generator.
    """
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"alpha and beta must be positive, got {alpha}, {beta}")
    log_x = _sample_log_gamma(alpha, count, generator)
    log_y = _sample_log_gamma(beta, count, generator)
    return torch.sigmoid(log_x - log_y)


def sample_interpolation_weight(
    count: int,
    phi: float = 0.4,
    alpha: float = 0.5,
    beta: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return ``b = 2φψ − φ``, ``ψ ~ Beta(α, β)`` i.i.d. per patch (eq. 6), float32 ``[count]``."""
    return (2.0 * phi * sample_beta(count, alpha, beta, generator) - phi).float()


def sop_target_distribution(argmax_hist: Tensor, mined_hist: Tensor, weight: Tensor) -> Tensor:
    """Return ``p_sop = relu(t)/‖relu(t)‖₁`` with ``t = (1 − b)·p_oh + b·p_sm`` (eq. 7-8).

    Args:
        argmax_hist: ``p_oh`` ``[n, c]``.
        mined_hist: ``p_sm`` ``[n, c]``.
        weight: ``b`` ``[n]``.

    Returns:
        ``p_sop`` ``[n, c]``, supported within the support of ``p_oh``.
    """
    b = weight.to(argmax_hist)[:, None]
    mixed = torch.relu((1.0 - b) * argmax_hist + b * mined_hist)
    return mixed / mixed.sum(1, keepdim=True).clamp(min=1e-12)


def _changed_fraction(perturbed: Tensor, pseudo_label: Tensor, valid: Tensor) -> Tensor:
    changed = ((perturbed != pseudo_label) & valid).sum()
    return changed.float() / valid.sum().clamp(min=1).float()


def _log_probs_and_argmax(logits: Tensor) -> tuple[Tensor, Tensor]:
    """``log_softmax`` over classes (fp32) and its argmax ``[B, H, W]`` (first max wins).

    The log-probabilities are stored channels-last and returned as a ``[B, c, H, W]`` view,
    so the class argmax and :func:`gather_patches` read contiguous rows: on CPU an argmax
    over the strided class axis costs several times more than the copy.
    """
    batch, num_classes, height, width = logits.shape
    log_probs = torch.log_softmax(logits.float(), dim=1)
    rows = log_probs.permute(0, 2, 3, 1).reshape(-1, num_classes)
    pseudo_label = rows.argmax(dim=1).view(batch, height, width)
    return rows.view(batch, height, width, num_classes).permute(0, 3, 1, 2), pseudo_label


def _valid_mask(logits: Tensor, pad_mask: Tensor | None) -> Tensor:
    batch, _, height, width = logits.shape
    if pad_mask is None:
        return torch.ones(batch, height, width, dtype=torch.bool, device=logits.device)
    return ~pad_mask.to(device=logits.device, dtype=torch.bool)


def sop_perturb(
    logits: Tensor,
    pad_mask: Tensor | None,
    grid: int = 4,
    phi: float = 0.4,
    alpha: float = 0.5,
    beta: float = 0.5,
    epsilon: float = 0.05,
    max_iters: int = 50,
    generator: torch.Generator | None = None,
) -> SOPResult:
    """Compute SOP's perturbed labels ``y*`` for a batch of teacher logits (eq. 1-12).

    Args:
        logits: Teacher logits at crop resolution, float ``[B, c, H, W]``.
        pad_mask: BoolTensor ``[B, H, W]``, True on padded pixels; ``None`` for no padding.
        grid: Patches per side (4 gives the paper's ``h/4 × w/4`` patches).
        phi: Range φ of the interpolation weight ``b ∈ [−φ, φ]``.
        alpha: Beta shape α of ``ψ``.
        beta: Beta shape β of ``ψ``.
        epsilon: Entropic weight ε.
        max_iters: Maximum Sinkhorn iterations.
        generator: Source of the ``ψ`` draws (see :func:`sample_beta`).

    Returns:
        :class:`SOPResult`; padded pixels of ``perturbed_label`` hold the pseudo-label.
    """
    valid = _valid_mask(logits, pad_mask)
    log_probs, pseudo_label = _log_probs_and_argmax(logits)
    layout = build_patch_layout(valid, grid)
    row_valid = layout.row_valid()
    patch_log_probs = gather_patches(log_probs, layout)
    # Target: argmax histogram, mined histogram, random signed interpolation.
    argmax_hist = allocation_histogram(patch_log_probs.argmax(dim=2), row_valid, logits.shape[1])
    mined_hist = softmax_mining_histogram(patch_log_probs.exp(), row_valid, argmax_hist)
    weight = sample_interpolation_weight(layout.num_patches, phi, alpha, beta, generator)
    target = sop_target_distribution(argmax_hist, mined_hist, weight.to(logits.device))
    # Reallocation by batched Sinkhorn, scattered back to the maps.
    patch_labels, info = sinkhorn_reallocate(patch_log_probs, row_valid, target, epsilon, max_iters)
    perturbed = scatter_patches(patch_labels, layout, pseudo_label)
    return SOPResult(
        perturbed, _changed_fraction(perturbed, pseudo_label, valid), target,
        weight.to(logits.device), info,
    )


def gt_class_histogram(
    gt_label: Tensor, valid_mask: Tensor, num_classes: int, ignore_index: int = 255
) -> Tensor:
    """Return each image's GT class fractions over valid pixels with a class in ``[0, c)``.

    Args:
        gt_label: LongTensor ``[B, H, W]``.
        valid_mask: BoolTensor ``[B, H, W]``, False on padded pixels.
        num_classes: ``c``.
        ignore_index: Label that is left out (labels outside ``[0, c)`` are left out too).

    Returns:
        Float ``[B, c]``; all zeros for an image without a valid GT pixel.
    """
    counted = valid_mask & (gt_label != ignore_index) & (gt_label >= 0) & (gt_label < num_classes)
    labels = torch.where(counted, gt_label, 0).flatten(1)
    counts = torch.zeros(gt_label.shape[0], num_classes, device=gt_label.device)
    counts.scatter_add_(1, labels, counted.flatten(1).float())
    return counts / counts.sum(1, keepdim=True).clamp(min=1)


def oracle_target(
    logits: Tensor,
    gt_label: Tensor,
    pad_mask: Tensor | None,
    ignore_index: int = 255,
    epsilon: float = 0.05,
    max_iters: int = 50,
) -> SOPResult:
    """Reallocate each whole image to its GT class histogram (the GT oracle).

    Classes absent from the argmax may be added. Images without a valid GT pixel (or without
    valid pixels) get ``y* = argmax ŷ``.

    Args:
        logits: Teacher logits, float ``[B, c, H, W]``.
        gt_label: GT labels of the same crops, LongTensor ``[B, H, W]``.
        pad_mask: BoolTensor ``[B, H, W]``, True on padded pixels; ``None`` for no padding.
        ignore_index: GT label left out of the histogram.
        epsilon: Entropic weight ε.
        max_iters: Maximum Sinkhorn iterations.

    Returns:
        :class:`SOPResult` with one problem per image and an empty ``interpolation_weight``.
    """
    valid = _valid_mask(logits, pad_mask)
    log_probs, pseudo_label = _log_probs_and_argmax(logits)
    layout = build_patch_layout(valid, grid=1)
    row_valid = layout.row_valid()
    patch_log_probs = gather_patches(log_probs, layout)
    target = gt_class_histogram(gt_label.to(logits.device), valid, logits.shape[1], ignore_index)
    # Images without GT are left out of the solve and keep the argmax.
    has_gt = target.sum(1) > 0
    solve_rows = row_valid & has_gt[:, None]
    patch_labels, info = sinkhorn_reallocate(
        patch_log_probs, solve_rows, target, epsilon, max_iters
    )
    patch_labels = torch.where(has_gt[:, None], patch_labels, patch_log_probs.argmax(dim=2))
    perturbed = scatter_patches(patch_labels, layout, pseudo_label)
    return SOPResult(
        perturbed, _changed_fraction(perturbed, pseudo_label, valid), target,
        torch.empty(0, device=logits.device), info,
    )
