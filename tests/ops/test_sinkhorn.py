"""Batched Sinkhorn solver against POT and a literal float64 Alg. 1 of the SOP paper."""

from __future__ import annotations

import pytest
import torch

from methods.ops.sinkhorn import (
    allocation_histogram,
    potential_labels,
    sinkhorn_plan,
    sinkhorn_reallocate,
)

from .sop_problems import pot_plans, reference_alg1, smooth_logits, sop_problems

pytest.importorskip("ot")

EPSILON = 0.05


@pytest.fixture(scope="module")
def padded_problems():
    """8 patches of 16x16 pixels, 6 classes; image 1 has its right 5 columns padded."""
    logits = smooth_logits(batch=2, num_classes=6, size=32, seed=3)
    pad_mask = torch.zeros(2, 32, 32, dtype=torch.bool)
    pad_mask[1, :, 27:] = True
    return sop_problems(logits, grid=2, seed=4, pad_mask=pad_mask)


def test_plan_matches_pot_iterates(padded_problems):
    """Same 50 iterations from the same start: the plans coincide up to fp32 rounding."""
    log_probs, row_valid, target = padded_problems
    plan, info = sinkhorn_plan(log_probs, row_valid, target, EPSILON, max_iters=50, tol=0.0)
    assert info.iterations == 50
    assert not row_valid.all()  # the fixture does exercise padding rows
    agree = total = 0
    for n, (reference_plan, kept) in enumerate(
        pot_plans(log_probs, row_valid, target, EPSILON, 50)
    ):
        ours = plan[n][row_valid[n]].double()
        num_rows = ours.shape[0]
        assert ours.sum(0)[target[n] == 0].abs().max() == 0  # no mass off the target support
        torch.testing.assert_close(ours.sum(1), torch.full_like(ours[:, 0], 1 / num_rows),
                                   rtol=1e-5, atol=0)
        reference_plan = torch.from_numpy(reference_plan)
        assert (ours[:, kept] - reference_plan).abs().max() < 1e-4 / num_rows
        agree += int((ours[:, kept].argmax(1) == reference_plan.argmax(1)).sum())
        total += num_rows
    assert agree / total >= 0.999


def test_converged_plan_has_target_marginals(padded_problems):
    """Run to convergence: rows uniform 1/d_n, columns equal the target, as POT's."""
    log_probs, row_valid, target = (t[4:] for t in padded_problems)  # the padded image
    plan, _ = sinkhorn_plan(log_probs, row_valid, target, EPSILON, max_iters=1000, tol=0.0)
    references = pot_plans(log_probs, row_valid, target, EPSILON, 1000, stop_threshold=1e-9)
    for n, (reference_plan, kept) in enumerate(references):
        ours = plan[n][row_valid[n]].double()
        num_rows = ours.shape[0]
        reference_plan = torch.from_numpy(reference_plan)
        torch.testing.assert_close(reference_plan.sum(0), target[n, kept].double(),
                                   rtol=0, atol=1e-5)
        torch.testing.assert_close(ours.sum(0), target[n].double(), rtol=0, atol=1e-4)
        torch.testing.assert_close(ours.sum(1), torch.full_like(ours[:, 0], 1 / num_rows),
                                   rtol=1e-5, atol=0)
        assert (ours[:, kept] - reference_plan).abs().max() < 1e-3 / num_rows


def test_labels_agree_with_pot_argmax(padded_problems):
    log_probs, row_valid, target = padded_problems
    labels, _ = sinkhorn_reallocate(log_probs, row_valid, target, EPSILON, tol=0.0)
    agree = total = 0
    for n, (reference_plan, kept) in enumerate(
        pot_plans(log_probs, row_valid, target, EPSILON, 50)
    ):
        reference_labels = kept[torch.from_numpy(reference_plan).argmax(1)]
        agree += int((labels[n][row_valid[n]] == reference_labels).sum())
        total += reference_labels.numel()
    assert agree / total >= 0.999
    assert (labels[~row_valid] == -1).all()


def test_argmax_identity_against_literal_alg1():
    logits = smooth_logits(batch=1, num_classes=5, size=40, seed=7)
    log_probs, row_valid, target = sop_problems(logits, grid=2, seed=8)
    assert row_valid.all()
    # The identity on the reference: argmax_c Y* = argmax_c(log ŷ + ε q).
    p_ref, q_ref, plan_ref = reference_alg1(log_probs, target, EPSILON, 50)
    plan_labels = plan_ref.argmax(2)
    assert torch.equal(plan_labels, potential_labels(log_probs.double(), q_ref, EPSILON))
    # Ours: same potentials, labels are argmax(log ŷ + ε q) for the returned q.
    labels, info = sinkhorn_reallocate(log_probs, row_valid, target, EPSILON, tol=0.0)
    q = info.column_potential
    finite = torch.isfinite(q_ref)
    assert torch.equal(torch.isfinite(q), finite)
    torch.testing.assert_close(q[finite].double(), q_ref[finite], rtol=0, atol=2e-3)
    assert torch.equal(labels, potential_labels(log_probs, q, EPSILON))
    assert (labels == plan_labels).float().mean() >= 0.999


def test_early_stop_follows_check_schedule(padded_problems):
    log_probs, row_valid, target = padded_problems
    _, loose = sinkhorn_reallocate(log_probs, row_valid, target, EPSILON, tol=10.0)
    assert loose.converged and loose.iterations == 1  # checked at it = 0
    _, strict = sinkhorn_reallocate(log_probs, row_valid, target, EPSILON, tol=0.0)
    assert not strict.converged and strict.iterations == 50
    _, mid = sinkhorn_reallocate(
        log_probs, row_valid, target, EPSILON, max_iters=50, check_every=20,
        tol=strict.allocation_error + 1e-6,
    )
    assert mid.iterations in (21, 41, 50)


def test_padding_rows_do_not_change_the_solution():
    logits = smooth_logits(batch=1, num_classes=4, size=24, seed=11)
    log_probs, row_valid, target = sop_problems(logits, grid=1, seed=12)
    labels, info = sinkhorn_reallocate(log_probs, row_valid, target, EPSILON, tol=0.0)
    # Same problem with 100 padding rows full of garbage, a fully padded problem, and a
    # problem with a single class.
    num_rows, num_classes = log_probs.shape[1:]
    padded = torch.full((3, num_rows + 100, num_classes), float("nan"))
    padded[0, :num_rows] = log_probs[0]
    padded[2, :] = torch.log_softmax(torch.randn(num_rows + 100, num_classes), dim=1)
    valid = torch.zeros(3, num_rows + 100, dtype=torch.bool)
    valid[0, :num_rows] = True
    valid[2, :] = True
    targets = torch.zeros(3, num_classes)
    targets[0] = target[0]
    targets[2, 1] = 1.0
    padded_labels, padded_info = sinkhorn_reallocate(padded, valid, targets, EPSILON, tol=0.0)
    assert torch.equal(padded_labels[0, :num_rows], labels[0])
    assert (padded_labels[~valid] == -1).all()
    assert (padded_labels[2] == 1).all()
    q = padded_info.column_potential
    assert not torch.isnan(q).any()
    torch.testing.assert_close(q[0], info.column_potential[0], rtol=0, atol=1e-5)
    assert (q[1] == 0).all()  # empty problem: untouched
    for value in (padded_info.allocation_error, padded_info.marginal_error):
        assert value == value and value >= 0


@pytest.mark.parametrize("mode", ["default", "always_log_domain", "always_absorb"])
def test_far_target_class_matches_reference(mode, monkeypatch):
    """A target class no pixel ranks near the top (oracle mode) stays finite and exact.

    The two forced modes run every update through the log-domain fallback or rebuild the
    kernel after every update; all must give Alg. 1's potentials.
    """
    import methods.ops.sinkhorn as sinkhorn_module

    if mode == "always_log_domain":
        monkeypatch.setattr(sinkhorn_module, "_MIN_COLUMN_MASS", 2.0)
    if mode == "always_absorb":
        monkeypatch.setattr(sinkhorn_module, "_ABSORB_BOUND", 0.0)
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(1, 300, 3, generator=generator)
    logits[..., 2] -= 40.0  # ~1e-17 probability everywhere: K is about -800
    log_probs = torch.log_softmax(logits, dim=2)
    target = torch.tensor([[0.5, 0.3, 0.2]])
    valid = torch.ones(1, 300, dtype=torch.bool)
    labels, info = sinkhorn_reallocate(log_probs, valid, target, EPSILON, max_iters=200, tol=0.0)
    _, q_ref, plan_ref = reference_alg1(log_probs, target, EPSILON, 200)
    assert torch.isfinite(info.column_potential).all()
    torch.testing.assert_close(info.column_potential.double(), q_ref, rtol=0, atol=2e-3)
    assert (labels == plan_ref.argmax(2)).float().mean() >= 0.999
    alloc = allocation_histogram(labels, valid, 3)
    assert alloc[0, 2] > 0.15  # the far class receives its share
    if mode == "always_log_domain":
        assert info.num_log_updates == 200
    if mode == "always_absorb":
        assert info.num_absorptions == 200


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(padded_problems):
    log_probs, row_valid, target = padded_problems
    labels, info = sinkhorn_reallocate(log_probs, row_valid, target, EPSILON, tol=0.0)
    gpu_labels, gpu_info = sinkhorn_reallocate(
        log_probs.cuda(), row_valid.cuda(), target.cuda(), EPSILON, tol=0.0
    )
    assert (gpu_labels.cpu() == labels).float().mean() >= 0.999
    assert gpu_info.iterations == info.iterations
