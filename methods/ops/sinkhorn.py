"""Batched entropic optimal transport that reallocates pixel labels (SOP; docs/methods/sop.md).

Each of ``n`` problems transports the uniform row marginal ``1/d_n`` over the valid pixels
of a patch onto a target class distribution, with cost ``C = -log ŷ`` and entropic weight
``ε`` (paper eq. 9-12, Alg. 1). In the paper's parametrisation ``K = log ŷ / ε`` and the
potentials ``p`` (rows) and ``q`` (columns) are updated as

    q ← log b − logsumexp_D(K + p)
    p ← log a − logsumexp_c(K + qᵀ)

Implementation (the iterates are those of Alg. 1 up to fp32 rounding):

- Zero-target classes have ``q = −∞`` and never carry mass, so each problem keeps only the
  columns of its target's support (a few classes per patch), stored class-major ``[n, s, D]``.
- After a row update ``p`` is a closed-form function of ``q``, so every iteration after the
  first is ``q ← q + log b − log colsum(P(q))`` with the row-normalised plan
  ``P(q)_ic = a_i · softmax_c(K_i + q)_c``. The plan is evaluated in the kernel domain,
  ``P(q_abs + δ) ∝ E ⊙ exp(δ)`` with ``E = exp(K + q_abs − rowmax)``, rebuilt ("absorbed")
  whenever ``|δ|`` passes a bound; an iteration then costs two batched matrix-vector products.
- The first iteration, and any iteration in which a target column's mass underflows in fp32,
  use the exact log-domain update.
- A problem whose target has a single class sends every pixel to that class whatever ``q``
  is; it is answered in closed form and left out of the batched solve (see
  :func:`_reallocate`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

# Rebuild the kernel once a column scaling exp(δ) leaves [e^-20, e^20]. Each row of E has an
# entry 1, so row sums stay >= e^-20 and entries that underflowed in E (< 1e-38) stay
# negligible (< 1e-20 relative).
_ABSORB_BOUND = 20.0
# A target column whose kernel-domain mass falls below this is recomputed in the log domain.
_MIN_COLUMN_MASS = 1e-30
# Below this many kernel entries, contract with elementwise ops instead of batched matmul and
# iterate on one CPU thread: each iteration is ~20 small ops, and with several threads their
# fork/join overhead dominates (on a busy 2-core CPU, 8 + 8 crops of 64 px ran 3-10x slower
# with 2 threads). Above it (Pascal's 321 px crops: ~10M entries) threaded bmm is 2-3x faster
# than elementwise sums.
_SMALL_KERNEL = 1 << 21


@dataclass
class SinkhornInfo:
    """Diagnostics of one batched Sinkhorn solve.

    Attributes:
        iterations: Number of (q, p) update pairs run (``it + 1`` at exit).
        converged: True if the allocation check met ``tol`` before ``max_iters`` ran out.
        allocation_error: Mean over non-empty problems of ``‖alloc_n − target_n‖₁``, where
            ``alloc_n`` is the histogram of the returned labels (the stopping criterion).
        marginal_error: Mean over non-empty problems of the L1 distance between the column
            marginal of the final plan ``Y*`` and the target. Row marginals are exact.
        column_potential: Final ``q``, float32 ``[n, c]``: ``-inf`` on zero-target columns,
            0 for problems without valid rows.
        num_absorptions: How many times the kernel ``E`` was built.
        num_log_updates: How many column updates ran in the log domain (the first iteration
            plus underflow fallbacks).
    """

    iterations: int
    converged: bool
    allocation_error: float
    marginal_error: float
    column_potential: Tensor
    num_absorptions: int = 0
    num_log_updates: int = 0


@dataclass
class _Problem:
    """Solver inputs restricted to each problem's target support, class-major, fp32."""

    log_probs: Tensor  # [n, s, D] log ŷ of the support columns, 0 on padding rows
    kernel_log: Tensor  # [n, s, D] K = log ŷ / ε
    row_valid: Tensor  # [n, D]
    row_log_mass: Tensor  # [n, D] log(1/d_n) on valid rows, -inf on padding rows
    column_class: Tensor  # [n, s] class index of each column, ascending on the support
    support: Tensor  # [n, s] column is a target class of a problem with valid rows
    target: Tensor  # [n, s] target mass per column (0 off the support)
    log_target: Tensor  # [n, s] log b on the support, -inf off it, 0 in empty problems
    fill: Tensor  # [n, s] potential of never-updated columns: -inf, or 0 in empty problems
    active: Tensor  # [n] problem has at least one valid row
    num_classes: int


def _check_inputs(log_probs: Tensor, row_valid: Tensor, target: Tensor, epsilon: float) -> None:
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be [n, D, c], got {tuple(log_probs.shape)}")
    n, num_rows, num_classes = log_probs.shape
    if tuple(row_valid.shape) != (n, num_rows) or tuple(target.shape) != (n, num_classes):
        raise ValueError("row_valid must be [n, D] and target [n, c] matching log_probs")
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")


def _prepare(log_probs: Tensor, row_valid: Tensor, target: Tensor, epsilon: float) -> _Problem:
    _check_inputs(log_probs, row_valid, target, epsilon)
    n, num_rows, num_classes = log_probs.shape
    row_valid = row_valid.to(torch.bool)
    target = target.float()
    rows_per_problem = row_valid.sum(1)
    active = rows_per_problem > 0
    support_full = (target > 0) & active[:, None]
    # Keep the support columns, ascending by class, padded to the largest support size s.
    support_size = support_full.sum(1)
    width = max(int(support_size.max()), 1) if n else 1
    column_class = torch.argsort((~support_full).to(torch.uint8), dim=1, stable=True)[:, :width]
    support = torch.arange(width, device=target.device)[None, :] < support_size[:, None]
    index = column_class[:, :, None].expand(n, width, num_rows)
    compact = torch.gather(log_probs.transpose(1, 2), 1, index).float()
    compact = torch.where(row_valid[:, None, :], compact, 0.0)
    compact_target = torch.where(support, target.gather(1, column_class), 0.0)
    log_target = torch.where(support, torch.log(compact_target.clamp(min=1e-38)), -torch.inf)
    log_target = torch.where(active[:, None], log_target, 0.0)
    fill = torch.where(active[:, None], -torch.inf, 0.0).expand(n, width)
    row_log_mass = torch.where(
        row_valid, -torch.log(rows_per_problem.clamp(min=1).float())[:, None], -torch.inf
    )
    return _Problem(
        compact, compact / epsilon, row_valid, row_log_mass, column_class, support,
        compact_target, log_target, fill, active, num_classes,
    )


@contextmanager
def _one_thread_if_small(kernel_log: Tensor) -> Iterator[None]:
    """Run the block on one intra-op thread for small CPU problems (see ``_SMALL_KERNEL``)."""
    threads = torch.get_num_threads()
    if kernel_log.device.type != "cpu" or kernel_log.numel() >= _SMALL_KERNEL or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _build_kernel(kernel_log: Tensor, q: Tensor) -> Tensor:
    """``E = exp(K + q − max_c(K + q))``, ``[n, s, D]``: every row has an entry 1."""
    kernel = kernel_log + q[:, :, None]
    kernel.sub_(kernel.amax(dim=1, keepdim=True))
    return kernel.exp_()


def _log_column_mass(kernel_log: Tensor, q: Tensor, row_log_mass: Tensor) -> Tensor:
    """Exact log column marginal of the plan ``a_i · softmax_c(K_i + q)``, ``[n, s]``."""
    scores = kernel_log + q[:, :, None]
    log_plan = scores - scores.logsumexp(dim=1, keepdim=True) + row_log_mass[:, None, :]
    return log_plan.logsumexp(dim=2)


def _kernel_column_mass(kernel: Tensor, delta: Tensor, row_mass: Tensor) -> Tensor:
    """Column marginal of the plan ``a_i · softmax_c(K_i + q_abs + δ)`` from the kernel."""
    scale = torch.exp(delta)
    if kernel.numel() < _SMALL_KERNEL:
        # Batched matmul always forks threads; tiny problems stay inline.
        row_sum = (kernel * scale[:, :, None]).sum(1)
        return (kernel * (row_mass / row_sum)[:, None, :]).sum(2) * scale
    row_sum = torch.bmm(scale[:, None, :], kernel).squeeze(1)
    weight = row_mass / row_sum
    return torch.bmm(weight[:, None, :], kernel.transpose(1, 2)).squeeze(1) * scale


def _column_argmax(log_probs: Tensor, q: Tensor, epsilon: float) -> Tensor:
    """``argmax_k(log ŷ_ik + ε·q_k)`` over class-major columns ``[n, s, D]``; first max wins."""
    best = log_probs[:, 0] + epsilon * q[:, :1]
    best_column = torch.zeros_like(best, dtype=torch.long)
    for column in range(1, log_probs.shape[1]):
        score = log_probs[:, column] + epsilon * q[:, column, None]
        better = score > best
        best = torch.where(better, score, best)
        best_column.masked_fill_(better, column)
    return best_column


def potential_labels(log_probs: Tensor, q: Tensor, epsilon: float) -> Tensor:
    """Return ``argmax_c(log ŷ_ic + ε·q_c)``, the argmax of the plan ``Y*`` (SOP eq. 12).

    Args:
        log_probs: Log-probabilities, float ``[n, D, c]``.
        q: Column potentials, float ``[n, c]`` (``-inf`` columns are never chosen).
        epsilon: Entropic weight ε.

    Returns:
        LongTensor ``[n, D]``; ties go to the lowest class index.
    """
    return (log_probs + epsilon * q[:, None, :]).argmax(dim=2)


def allocation_histogram(labels: Tensor, row_valid: Tensor, num_classes: int) -> Tensor:
    """Return ``(1/d_n) Σ_i onehot(labels_i)`` over valid rows, float ``[n, c]``.

    Args:
        labels: LongTensor ``[n, D]``; values on padding rows are ignored.
        row_valid: BoolTensor ``[n, D]``.
        num_classes: Number of classes ``c``.

    Returns:
        Float ``[n, c]``; all zeros for problems without valid rows.
    """
    counts = torch.zeros(labels.shape[0], num_classes, device=labels.device)
    counts.scatter_add_(1, torch.where(row_valid, labels, 0), row_valid.float())
    return counts / row_valid.sum(1, keepdim=True).clamp(min=1)


def _mean_over_active(per_problem: Tensor, active: Tensor) -> float:
    if not bool(active.any()):
        return 0.0
    return float(per_problem[active].mean())


def _allocation_error(problem: _Problem, columns: Tensor) -> float:
    alloc = allocation_histogram(columns, problem.row_valid, problem.target.shape[1])
    return _mean_over_active((alloc - problem.target).abs().sum(1), problem.active)


def _update_delta(
    problem: _Problem, kernel: Tensor, q_absorbed: Tensor, delta: Tensor, row_mass: Tensor
) -> tuple[Tensor, bool]:
    """One iteration ``q ← q + log b − log colsum(P(q))`` on ``δ = q − q_abs``.

    Returns the new ``δ`` and whether the exact log-domain column mass had to be used.
    """
    support = problem.support
    column_mass = _kernel_column_mass(kernel, delta, row_mass)
    exact = bool((support & (column_mass < _MIN_COLUMN_MASS)).any())
    if exact:
        q = torch.where(support, q_absorbed + delta, problem.fill)
        log_mass = _log_column_mass(problem.kernel_log, q, problem.row_log_mass)
    else:
        log_mass = torch.log(column_mass)
    log_mass = torch.where(support, log_mass, 0.0)
    return torch.where(support, delta + problem.log_target - log_mass, 0.0), exact


def _solve(
    problem: _Problem, epsilon: float, max_iters: int, check_every: int, tol: float
) -> tuple[Tensor, Tensor, SinkhornInfo]:
    """Run the iterations; return ``(q [n, s], label columns [n, D], info)``."""
    if max_iters < 1 or check_every < 1:
        raise ValueError("max_iters and check_every must be >= 1")
    support, fill = problem.support, problem.fill
    row_mass = problem.row_log_mass.exp()
    # Iteration 0 in the log domain, from p = 0 on valid rows.
    start = torch.where(problem.row_valid, 0.0, -torch.inf)
    first = problem.log_target - (problem.kernel_log + start[:, None, :]).logsumexp(dim=2)
    q_absorbed = torch.where(support, first, fill)
    delta = torch.zeros_like(q_absorbed)
    kernel = _build_kernel(problem.kernel_log, q_absorbed)
    num_absorptions, num_log_updates = 1, 1
    converged, iterations, error, columns = False, max_iters, float("nan"), None
    for it in range(max_iters):
        if it > 0:
            delta, exact = _update_delta(problem, kernel, q_absorbed, delta, row_mass)
            num_log_updates += int(exact)
            if exact or bool(delta.abs().amax() > _ABSORB_BOUND):
                q_absorbed = torch.where(support, q_absorbed + delta, fill)
                delta = torch.zeros_like(delta)
                kernel = _build_kernel(problem.kernel_log, q_absorbed)
                num_absorptions += 1
        if it % check_every == 0:
            q = torch.where(support, q_absorbed + delta, fill)
            columns = _column_argmax(problem.log_probs, q, epsilon)
            error = _allocation_error(problem, columns)
            if error < tol:
                converged, iterations = True, it + 1
                break
    q = torch.where(support, q_absorbed + delta, fill)
    if not converged:
        columns = _column_argmax(problem.log_probs, q, epsilon)
        error = _allocation_error(problem, columns)
    final_mass = _kernel_column_mass(kernel, delta, row_mass)
    marginal = _mean_over_active((final_mass - problem.target).abs().sum(1), problem.active)
    q_full = torch.where(problem.active[:, None], -torch.inf, 0.0).expand(
        q.shape[0], problem.num_classes
    ).scatter(1, problem.column_class, q)
    info = SinkhornInfo(
        iterations, converged, error, marginal, q_full, num_absorptions, num_log_updates
    )
    return q, columns, info


def _single_class_solution(
    log_probs: Tensor, row_valid: Tensor, target: Tensor, index: Tensor, epsilon: float
) -> tuple[Tensor, Tensor]:
    """Labels ``[m, D]`` and column potentials ``[m, c]`` of the single-class problems ``index``.

    Every valid row takes the target's class; ``q = log b − logsumexp_D K`` on that class (its
    first update, which later updates keep up to fp32 rounding) and ``-inf`` elsewhere.
    """
    single_class = target[index].argmax(1)
    valid = row_valid[index]
    rows = torch.arange(log_probs.shape[1], device=log_probs.device)
    column_log_probs = log_probs[index[:, None], rows, single_class[:, None]].float()
    kernel_log = torch.where(valid, column_log_probs / epsilon, -torch.inf)
    log_target = torch.log(target[index].float().gather(1, single_class[:, None]))
    q = torch.full((index.numel(), log_probs.shape[2]), -torch.inf, device=log_probs.device)
    q.scatter_(1, single_class[:, None], log_target - kernel_log.logsumexp(dim=1, keepdim=True))
    return torch.where(valid, single_class[:, None], -1), q


def _reallocate(
    log_probs: Tensor, row_valid: Tensor, target: Tensor, epsilon: float, max_iters: int,
    check_every: int, tol: float,
) -> tuple[Tensor, SinkhornInfo]:
    """Labels ``[n, D]`` (``-1`` on padding rows) and diagnostics of all problems.

    Problems whose target has one class are answered in closed form: their allocation error
    is exactly 0, and their columns never trigger an absorption or a log-domain fallback
    (mass 1, ``δ`` ≈ 0). The other problems are solved together with the tolerance scaled by
    ``#active / #solved``, so the stopping test (mean error over all active problems), the
    iterates and the labels are those of one batched solve; the error means are rescaled to
    all active problems.
    """
    _check_inputs(log_probs, row_valid, target, epsilon)
    if max_iters < 1 or check_every < 1:
        raise ValueError("max_iters and check_every must be >= 1")
    row_valid = row_valid.to(torch.bool)
    active = row_valid.any(1)
    single = active & ((target > 0).sum(1) == 1)
    num_active, num_single = int(active.sum()), int(single.sum())
    if num_single == 0:
        problem = _prepare(log_probs, row_valid, target, epsilon)
        with _one_thread_if_small(problem.kernel_log):
            _, columns, info = _solve(problem, epsilon, max_iters, check_every, tol)
        labels = problem.column_class.gather(1, columns)
        return torch.where(problem.row_valid, labels, -1), info

    single_index, solved = single.nonzero().squeeze(1), ~single
    labels = torch.full(row_valid.shape, -1, dtype=torch.long, device=row_valid.device)
    q = torch.where(active[:, None], -torch.inf, 0.0).expand(*target.shape).clone()
    labels[single_index], q[single_index] = _single_class_solution(
        log_probs, row_valid, target, single_index, epsilon)
    num_solved = num_active - num_single
    if num_solved == 0:
        converged = tol > 0  # the check at it = 0 sees error 0
        return labels, SinkhornInfo(1 if converged else max_iters, converged, 0.0, 0.0, q)
    problem = _prepare(log_probs[solved], row_valid[solved], target[solved], epsilon)
    share = num_solved / num_active
    with _one_thread_if_small(problem.kernel_log):
        _, columns, info = _solve(problem, epsilon, max_iters, check_every, tol / share)
    solved_labels = problem.column_class.gather(1, columns)
    labels[solved] = torch.where(problem.row_valid, solved_labels, -1)
    q[solved] = info.column_potential
    return labels, SinkhornInfo(
        info.iterations, info.converged, info.allocation_error * share,
        info.marginal_error * share, q, info.num_absorptions, info.num_log_updates,
    )


def solve_potential(
    log_probs: Tensor,
    row_valid: Tensor,
    target: Tensor,
    epsilon: float = 0.05,
    max_iters: int = 50,
    check_every: int = 20,
    tol: float = 1e-3,
) -> tuple[Tensor, SinkhornInfo]:
    """Run the batched Sinkhorn iterations and return the final column potential ``q``.

    See :func:`sinkhorn_reallocate` for the arguments.

    Returns:
        ``(q, info)`` with ``q`` float32 ``[n, c]`` (also ``info.column_potential``).
    """
    _, info = _reallocate(log_probs, row_valid, target, epsilon, max_iters, check_every, tol)
    return info.column_potential, info


def sinkhorn_reallocate(
    log_probs: Tensor,
    row_valid: Tensor,
    target: Tensor,
    epsilon: float = 0.05,
    max_iters: int = 50,
    check_every: int = 20,
    tol: float = 1e-3,
) -> tuple[Tensor, SinkhornInfo]:
    """Reallocate per-pixel labels so each problem's label histogram approaches its target.

    Implements the SOP paper's Algorithm 1: up to ``max_iters`` iterations of the q-then-p
    update; at every ``it % check_every == 0`` the labels ``argmax_c Y*`` are histogrammed
    and the solve stops when the mean (over problems with valid rows) L1 distance to the
    target is below ``tol``. ``p`` starts at 0 on valid rows and ``-inf`` on padding rows,
    so padded content never enters the first ``q`` update (as when POT is given the valid
    rows alone). Runs in fp32 on the device of ``log_probs``.

    Args:
        log_probs: ``log_softmax`` of the teacher logits, float ``[n, D, c]``. Must be finite
            on valid rows; padding rows are ignored.
        row_valid: BoolTensor ``[n, D]``, False for padding rows (log-marginal ``-inf``).
        target: Target class distribution per problem, float ``[n, c]``, rows summing to 1.
            Zero entries are ``-inf`` in log space and never receive pixels. Ignored for
            problems without valid rows.
        epsilon: Entropic weight ε of the cost ``-log ŷ``.
        max_iters: Maximum number of iterations.
        check_every: Period of the allocation check.
        tol: Threshold on the mean L1 allocation error.

    Returns:
        ``(labels, info)``. ``labels`` is a LongTensor ``[n, D]`` equal to
        ``argmax_c(log_probs_ic + ε·q_c)`` for the final ``q`` on valid rows and ``-1`` on
        padding rows; ``info`` is a :class:`SinkhornInfo`.
    """
    return _reallocate(log_probs, row_valid, target, epsilon, max_iters, check_every, tol)


def sinkhorn_plan(
    log_probs: Tensor,
    row_valid: Tensor,
    target: Tensor,
    epsilon: float = 0.05,
    max_iters: int = 50,
    check_every: int = 20,
    tol: float = 1e-3,
) -> tuple[Tensor, SinkhornInfo]:
    """Return the transport plan ``Y* = exp(p + K + qᵀ)`` (materialised; for small problems).

    Arguments are those of :func:`sinkhorn_reallocate`. The plan's rows sum to ``1/d_n`` on
    valid rows and are 0 on padding rows; its columns approach the target.

    Returns:
        ``(plan, info)`` with ``plan`` float32 ``[n, D, c]``.
    """
    q, info = solve_potential(log_probs, row_valid, target, epsilon, max_iters, check_every, tol)
    row_valid = row_valid.to(torch.bool)
    kernel_log = torch.where(row_valid[..., None], log_probs.float(), 0.0) / epsilon
    row_mass = row_valid.float() / row_valid.sum(1, keepdim=True).clamp(min=1)
    return torch.softmax(kernel_log + q[:, None, :], dim=2) * row_mass[..., None], info
