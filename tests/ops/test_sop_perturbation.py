"""SOP target construction, perturbation and GT oracle (docs/methods/sop.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from methods.ops.sinkhorn import allocation_histogram
from methods.ops.sop_perturbation import (
    build_patch_layout,
    gather_patches,
    gt_class_histogram,
    oracle_target,
    patch_bounds,
    patch_id_map,
    sample_beta,
    sample_interpolation_weight,
    scatter_patches,
    softmax_mining_histogram,
    sop_perturb,
    sop_target_distribution,
)

from .sop_problems import smooth_logits


def test_patch_bounds_cover_321_exactly_once():
    assert patch_bounds(321, 4) == [0, 80, 160, 240, 321]
    ids = patch_id_map(321, 321, 4)
    counts = torch.bincount(ids.flatten(), minlength=16)
    sizes = [80, 80, 80, 81]
    expected = torch.tensor([h * w for h in sizes for w in sizes])
    assert torch.equal(counts, expected) and int(counts.sum()) == 321 * 321
    for gy in range(4):
        for gx in range(4):
            rows, cols = (ids == gy * 4 + gx).nonzero(as_tuple=True)
            bounds = patch_bounds(321, 4)
            assert (int(rows.min()), int(rows.max()) + 1) == (bounds[gy], bounds[gy + 1])
            assert (int(cols.min()), int(cols.max()) + 1) == (bounds[gx], bounds[gx + 1])


def test_layout_gather_scatter_round_trip():
    generator = torch.Generator().manual_seed(0)
    valid = torch.rand(2, 21, 18, generator=generator) > 0.3
    valid[1, :10, :9] = False  # a fully padded patch (grid 2: rows 0-9, cols 0-8)
    layout = build_patch_layout(valid, grid=2)
    # Every valid pixel exactly once, padded pixels never.
    assert torch.equal(torch.sort(layout.pixel_index).values, valid.flatten().nonzero()[:, 0])
    ids = patch_id_map(21, 18, 2)
    hand_counts = [int((valid[b] & (ids == p)).sum()) for b in range(2) for p in range(4)]
    assert layout.rows_per_patch.tolist() == hand_counts
    assert hand_counts[4] == 0 and layout.max_rows == max(hand_counts)
    # Rows follow raster order inside a patch.
    labels = torch.arange(2 * 21 * 18).reshape(2, 21, 18)
    rows = gather_patches(labels, layout, fill=-1)
    row_valid = layout.row_valid()
    assert torch.equal(rows >= 0, row_valid)
    for n in range(8):
        kept = rows[n][row_valid[n]]
        assert torch.all(kept[1:] > kept[:-1])
    values = torch.randn(2, 3, 21, 18, generator=generator)
    gathered = gather_patches(values, layout)
    base = torch.full((2, 21, 18), -7)
    restored = scatter_patches(rows, layout, base)
    assert torch.equal(restored[valid], labels[valid]) and (restored[~valid] == -7).all()
    b, y, x = 1, 15, 12
    if valid[b, y, x]:
        where = (rows == labels[b, y, x]).nonzero()[0]
        assert torch.equal(gathered[where[0], where[1]], values[b, :, y, x])


def test_histograms_match_hand_computation():
    generator = torch.Generator().manual_seed(1)
    probs = torch.softmax(torch.randn(3, 7, 4, generator=generator) * 3, dim=2)
    row_valid = torch.ones(3, 7, dtype=torch.bool)
    row_valid[1, 5:] = False
    row_valid[2] = False
    argmax_hist = allocation_histogram(probs.argmax(2), row_valid, 4)
    mined = softmax_mining_histogram(probs, row_valid, argmax_hist)
    for n in range(2):
        p = probs[n][row_valid[n]].numpy()
        one_hot = np.bincount(p.argmax(1), minlength=4) / len(p)
        summed = p.sum(0) * (one_hot > 0)
        np.testing.assert_allclose(argmax_hist[n].numpy(), one_hot, atol=1e-7)
        np.testing.assert_allclose(mined[n].numpy(), summed / summed.sum(), atol=1e-6)
    assert (argmax_hist[2] == 0).all() and (mined[2] == 0).all()


def test_sop_target_interpolation_by_hand():
    p_oh = torch.tensor([[0.7, 0.2, 0.1, 0.0]])
    p_sm = torch.tensor([[0.5, 0.2, 0.3, 0.0]])
    # b = -0.4: t = 1.4 p_oh - 0.4 p_sm = [0.78, 0.2, 0.02, 0]
    torch.testing.assert_close(
        sop_target_distribution(p_oh, p_sm, torch.tensor([-0.4])),
        torch.tensor([[0.78, 0.2, 0.02, 0.0]]),
    )
    # b = -1 removes class 2: t = [0.9, 0.2, -0.1, 0] -> relu / 1.1
    torch.testing.assert_close(
        sop_target_distribution(p_oh, p_sm, torch.tensor([-1.0])),
        torch.tensor([[0.9, 0.2, 0.0, 0.0]]) / 1.1,
    )
    torch.testing.assert_close(sop_target_distribution(p_oh, p_sm, torch.zeros(1)), p_oh)


def test_beta_sampler_matches_analytic_moments():
    psi = sample_beta(40000, 0.5, 0.5, torch.Generator().manual_seed(0))
    # Arcsine law: mean 1/2, variance 1/8, P(psi < 0.1) = (2/pi) asin(sqrt(0.1)).
    assert abs(float(psi.mean()) - 0.5) < 0.01
    assert abs(float(psi.var()) - 0.125) < 0.004
    assert abs(float((psi < 0.1).double().mean()) - 2 / math.pi * math.asin(0.1**0.5)) < 0.01
    skewed = sample_beta(40000, 2.0, 5.0, torch.Generator().manual_seed(1))
    assert abs(float(skewed.mean()) - 2 / 7) < 0.005
    assert abs(float(skewed.var()) - 10 / (49 * 8)) < 0.002
    weight = sample_interpolation_weight(5000, phi=0.4, generator=torch.Generator().manual_seed(2))
    assert float(weight.min()) >= -0.4 and float(weight.max()) <= 0.4
    again = sample_interpolation_weight(5000, phi=0.4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(weight, again)


def _patch_classes(labels: torch.Tensor, valid: torch.Tensor, grid: int) -> list[set]:
    layout = build_patch_layout(valid, grid)
    rows = gather_patches(labels, layout, fill=-1)
    return [set(r[r >= 0].tolist()) for r in rows]


def test_sop_never_adds_classes_absent_from_patch_argmax():
    logits = smooth_logits(batch=3, num_classes=8, size=45, seed=5)
    result = sop_perturb(logits, None, generator=torch.Generator().manual_seed(0))
    pseudo_label = logits.argmax(1)
    valid = torch.ones_like(pseudo_label, dtype=torch.bool)
    before = _patch_classes(pseudo_label, valid, 4)
    after = _patch_classes(result.perturbed_label, valid, 4)
    assert all(a <= b for a, b in zip(after, before))
    changed = (result.perturbed_label != pseudo_label).float().mean()
    assert float(result.changed_fraction) == pytest.approx(float(changed))
    assert 0 < float(result.changed_fraction) < 0.5
    # Targets live on the argmax support and sum to one.
    layout = build_patch_layout(valid, 4)
    argmax_hist = allocation_histogram(
        gather_patches(pseudo_label, layout), layout.row_valid(), 8
    )
    assert ((result.target_distribution > 0) <= (argmax_hist > 0)).all()
    torch.testing.assert_close(result.target_distribution.sum(1), torch.ones(48))


def test_phi_zero_targets_the_argmax_histogram():
    logits = smooth_logits(batch=2, num_classes=6, size=40, seed=9)
    result = sop_perturb(logits, None, phi=0.0, generator=torch.Generator().manual_seed(0))
    pseudo_label = logits.argmax(1)
    layout = build_patch_layout(torch.ones_like(pseudo_label, dtype=torch.bool), 4)
    hand = allocation_histogram(gather_patches(pseudo_label, layout), layout.row_valid(), 6)
    assert (result.interpolation_weight == 0).all()
    torch.testing.assert_close(result.target_distribution, hand)
    assert float(result.changed_fraction) < 0.02
    assert result.solver_info.allocation_error < 0.03


def test_padded_pixels_are_excluded_and_kept():
    logits = smooth_logits(batch=2, num_classes=5, size=36, seed=13)
    pad_mask = torch.zeros(2, 36, 36, dtype=torch.bool)
    pad_mask[0, 20:, :] = True  # bottom rows of image 0
    pad_mask[1, :18, :18] = True  # one whole patch of image 1 (grid 2)
    result = sop_perturb(logits, pad_mask, grid=2, generator=torch.Generator().manual_seed(3))
    # Changing the padded logits changes nothing.
    noisy = logits.clone()
    noisy[pad_mask[:, None].expand_as(noisy)] = torch.randn(int(pad_mask.sum()) * 5) * 50
    again = sop_perturb(noisy, pad_mask, grid=2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(result.perturbed_label[~pad_mask], again.perturbed_label[~pad_mask])
    assert torch.equal(again.perturbed_label[pad_mask], noisy.argmax(1)[pad_mask])
    assert not torch.isnan(result.solver_info.column_potential).any()
    assert (result.target_distribution[4] == 0).all()  # fully padded patch (image 1, top-left)
    assert (result.target_distribution[[0, 1, 2, 3, 5, 6, 7]].sum(1) - 1).abs().max() < 1e-6
    changed = (result.perturbed_label != logits.argmax(1))[~pad_mask].float().mean()
    assert float(result.changed_fraction) == pytest.approx(float(changed))


def test_single_class_patches_are_unchanged():
    logits = torch.zeros(1, 4, 16, 16)
    logits[0, 2] = 3.0
    logits[0, 1, :, 8:] = 5.0  # right half: class 1; left half: class 2
    result = sop_perturb(logits, None, grid=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(result.perturbed_label, logits.argmax(1))
    assert float(result.changed_fraction) == 0.0


def test_oracle_adds_gt_classes_and_matches_histogram():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 30, 30, generator=generator)
    logits[:, 0] += 4.0  # argmax is almost only class 0
    logits[:, 3] -= 2.0
    gt = torch.zeros(2, 30, 30, dtype=torch.long)
    gt[0, :, 20:] = 3  # a third of image 0 is class 3
    gt[0, :2] = 255
    gt[1] = 255  # image 1: no valid GT
    pad_mask = torch.zeros(2, 30, 30, dtype=torch.bool)
    pad_mask[0, 25:] = True
    hist = gt_class_histogram(gt, ~pad_mask, 4)
    hand = torch.zeros(4)
    hand[0], hand[3] = 23 * 20, 23 * 10
    torch.testing.assert_close(hist[0], hand / hand.sum())
    assert (hist[1] == 0).all()
    result = oracle_target(logits, gt, pad_mask, max_iters=200)
    assert (logits.argmax(1)[0][~pad_mask[0]] != 3).float().mean() > 0.99
    alloc = torch.bincount(result.perturbed_label[0][~pad_mask[0]], minlength=4) / (25 * 30)
    assert abs(float(alloc[3]) - float(hand[3] / hand.sum())) < 0.02
    assert torch.equal(result.perturbed_label[1], logits.argmax(1)[1])
    assert torch.equal(result.perturbed_label[0][pad_mask[0]], logits.argmax(1)[0][pad_mask[0]])
