"""Speed and agreement of the batched SOP Sinkhorn solver against a loop of POT solves.

Both sides solve the same SOP-shaped problems: the patches of synthetic teacher logits at
crop resolution, with targets from the real SOP construction (``p_oh``, ``p_sm``, random
``b``). POT (``ot.sinkhorn(a, b, M, reg=ε, method='sinkhorn_log')``) gets, per patch and in
float64: ``a`` uniform ``1/d_n`` over the patch's valid pixels; ``b`` the SOP target on its
positive classes only, renormalised to sum 1 (zero-target classes removed, so no ``log 0``);
``M = −log_softmax(logits)`` on those rows and columns; ``numItermax = max_iters``,
``stopThr = 1e-9`` (POT's default; it checks every 10 iterations). Only the solver calls are
timed. The CLI lives elsewhere (``python -m benchmark perf sinkhorn``).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.errors import BenchmarkError
from methods.ops.sinkhorn import allocation_histogram, sinkhorn_reallocate
from methods.ops.sop_perturbation import (
    build_patch_layout,
    gather_patches,
    sample_interpolation_weight,
    softmax_mining_histogram,
    sop_target_distribution,
)

POT_STOP_THRESHOLD = 1e-9


def make_teacher_logits(
    batch: int,
    num_classes: int,
    size: int,
    generator: torch.Generator,
    classes_per_image: int = 4,
    region_cells: int = 5,
    sharpness: float = 6.0,
) -> Tensor:
    """Synthesise teacher logits with smooth class regions, float ``[B, c, size, size]``.

    Each image has ``classes_per_image`` present classes (class 0 always) whose logits are
    smooth random fields (a ``region_cells²`` Gaussian grid, bilinearly upsampled) scaled by
    ``sharpness``; absent classes are weaker fields (scale 1) 4 logits lower. A patch of a
    4×4 grid then holds a few argmax classes, and the softmax is peaked inside regions and
    soft near their borders.
    """
    fields = torch.randn(batch, num_classes, region_cells, region_cells, generator=generator)
    keys = torch.rand(batch, num_classes - 1, generator=generator)
    others = keys.argsort(dim=1)[:, : classes_per_image - 1] + 1
    present = torch.zeros(batch, num_classes, dtype=torch.bool)
    present[:, 0] = True
    present.scatter_(1, others, True)
    scale = torch.where(present, sharpness, 1.0)[..., None, None]
    offset = torch.where(present, 0.0, -4.0)[..., None, None]
    low_res = scale * fields + offset
    return F.interpolate(low_res, size=(size, size), mode="bilinear", align_corners=True)


def _sop_problems(
    logits: Tensor, grid: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Patch log-probabilities ``[n, D, c]``, row validity and SOP targets for ``logits``."""
    valid = torch.ones(logits.shape[0], *logits.shape[2:], dtype=torch.bool)
    layout = build_patch_layout(valid, grid)
    row_valid = layout.row_valid()
    patch_log_probs = gather_patches(torch.log_softmax(logits, dim=1), layout)
    argmax_hist = allocation_histogram(patch_log_probs.argmax(2), row_valid, logits.shape[1])
    mined_hist = softmax_mining_histogram(patch_log_probs.exp(), row_valid, argmax_hist)
    weight = sample_interpolation_weight(layout.num_patches, generator=generator)
    return patch_log_probs, row_valid, sop_target_distribution(argmax_hist, mined_hist, weight)


def _import_pot() -> Any:
    try:
        import ot
    except ImportError as error:
        raise BenchmarkError(
            "the Sinkhorn benchmark needs POT (Python Optimal Transport): pip install pot"
        ) from error
    return ot


def _pot_inputs(log_probs: Tensor, row_valid: Tensor, target: Tensor) -> list[tuple]:
    """Per problem ``(a, b, M, kept_classes, num_rows)`` in float64 numpy."""
    inputs = []
    for n in range(log_probs.shape[0]):
        num_rows = int(row_valid[n].sum())
        kept = (target[n] > 0).nonzero().squeeze(1)
        b = target[n, kept].double()
        cost = -log_probs[n, :num_rows][:, kept].double()
        a = torch.full((num_rows,), 1.0 / num_rows, dtype=torch.float64)
        inputs.append((a.numpy(), (b / b.sum()).numpy(), cost.numpy(), kept, num_rows))
    return inputs


def _median_seconds(run: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_sinkhorn_benchmark(
    batch: int = 8,
    grid: int = 4,
    crop: int = 321,
    num_classes: int = 21,
    repeats: int = 3,
    seed: int = 0,
    device: str = "cpu",
    epsilon: float = 0.05,
    max_iters: int = 50,
    num_threads: int | None = None,
) -> dict[str, float]:
    """Time the batched solver against a Python loop of POT solves on the same problems.

    Args:
        batch: Unlabeled images per batch.
        grid: Patches per side.
        crop: Square crop size in pixels.
        num_classes: Number of classes.
        repeats: Timed repeats per side (median reported); ours also gets one warm-up.
        seed: Seed of the logits and of the interpolation weights.
        device: Device of our solver (POT runs on CPU numpy).
        epsilon: Entropic weight ε.
        max_iters: Iteration cap of both solvers.
        num_threads: CPU threads for torch during the run (restored afterwards); ``None``
            keeps the current setting. POT's loop is single-threaded numpy either way.

    Returns:
        ``ours_seconds`` (with SOP's allocation stopping rule), ``ours_full_seconds`` (the
        same solver forced to ``max_iters``), ``pot_seconds``, ``speedup`` and
        ``speedup_full`` (POT time over each of ours), ``label_agreement`` and
        ``label_agreement_full`` (fraction of valid pixels whose argmax label matches POT's
        plan argmax), ``ours_iterations``, ``pot_iterations`` (mean), ``torch_threads`` and
        the problem sizes.
    """
    ot = _import_pot()
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        result = _run(ot, batch, grid, crop, num_classes, repeats, seed, device, epsilon,
                      max_iters)
    finally:
        torch.set_num_threads(previous_threads)
    result["torch_threads"] = float(num_threads or previous_threads)
    return result


def _run(
    ot: Any,
    batch: int,
    grid: int,
    crop: int,
    num_classes: int,
    repeats: int,
    seed: int,
    device: str,
    epsilon: float,
    max_iters: int,
) -> dict[str, float]:
    generator = torch.Generator().manual_seed(seed)
    logits = make_teacher_logits(batch, num_classes, crop, generator)
    log_probs, row_valid, target = _sop_problems(logits, grid, generator)
    dev_log_probs, dev_valid, dev_target = (t.to(device) for t in (log_probs, row_valid, target))
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)

    def ours(tol: float) -> tuple[Tensor, Any]:
        return sinkhorn_reallocate(
            dev_log_probs, dev_valid, dev_target, epsilon, max_iters, tol=tol
        )

    ours(1e-3)  # warm-up
    ours_seconds = _median_seconds(lambda: ours(1e-3), repeats, sync)
    ours_full_seconds = _median_seconds(lambda: ours(0.0), repeats, sync)
    labels, info = ours(1e-3)
    labels_full, _ = ours(0.0)

    pot_inputs = _pot_inputs(log_probs, row_valid, target)
    pot_results: list = []

    def pot_loop() -> None:
        pot_results.clear()
        for a, b, cost, _, _ in pot_inputs:
            pot_results.append(
                ot.sinkhorn(a, b, cost, reg=epsilon, method="sinkhorn_log",
                            numItermax=max_iters, stopThr=POT_STOP_THRESHOLD, log=True,
                            warn=False)
            )

    pot_seconds = _median_seconds(pot_loop, repeats, lambda: None)
    pot_labels = torch.full_like(labels, -1)
    for n, ((plan, _), (_, _, _, kept, num_rows)) in enumerate(zip(pot_results, pot_inputs)):
        pot_labels[n, :num_rows] = kept[torch.from_numpy(plan).argmax(dim=1)]
    num_valid = int(row_valid.sum())
    agreement = float(((labels.cpu() == pot_labels) & row_valid).sum()) / num_valid
    agreement_full = float(((labels_full.cpu() == pot_labels) & row_valid).sum()) / num_valid
    pot_iterations = statistics.mean(log["niter"] + 1 for _, log in pot_results)
    return {
        "num_problems": float(log_probs.shape[0]),
        "rows_per_problem": float(log_probs.shape[1]),
        "num_classes": float(num_classes),
        "ours_seconds": ours_seconds,
        "ours_full_seconds": ours_full_seconds,
        "pot_seconds": pot_seconds,
        "speedup": pot_seconds / ours_seconds,
        "speedup_full": pot_seconds / ours_full_seconds,
        "label_agreement": agreement,
        "label_agreement_full": agreement_full,
        "ours_iterations": float(info.iterations),
        "pot_iterations": float(pot_iterations),
        "ours_allocation_error": info.allocation_error,
    }


def format_sinkhorn_report(result: dict[str, float]) -> str:
    """Render :func:`run_sinkhorn_benchmark` figures as a small plain-text table."""
    shape = (
        f"{int(result['num_problems'])} problems x {int(result['rows_per_problem'])} rows x "
        f"{int(result['num_classes'])} classes"
    )
    rows = [
        ("solver", "seconds", "iterations", "speedup", "label agreement"),
        ("POT sinkhorn_log loop (float64)", f"{result['pot_seconds']:.3f}",
         f"{result['pot_iterations']:.1f}", "1.0x", "-"),
        ("ours, SOP stopping rule", f"{result['ours_seconds']:.3f}",
         f"{result['ours_iterations']:.0f}", f"{result['speedup']:.1f}x",
         f"{100 * result['label_agreement']:.3f}%"),
        ("ours, all iterations", f"{result['ours_full_seconds']:.3f}", "max",
         f"{result['speedup_full']:.1f}x", f"{100 * result['label_agreement_full']:.3f}%"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"Sinkhorn reallocation benchmark: {shape}, torch threads "
        f"{int(result.get('torch_threads', 0))}"
    ]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
