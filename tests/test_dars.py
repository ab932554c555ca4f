"""DARS selection on hand-built teacher outputs with known confidences (ICCV 2021, Alg. 1)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from methods.ops.dars import (
    NUM_CODES,
    _hypergeometric_split,
    class_counts,
    confidence_codes,
    dars_select,
    kl_divergence,
    labeled_class_distribution,
    target_counts,
)


def hand_built_set(seed: int = 0):
    """Two 10x10 images: class 0 on 120 px at confidence 1 (saturated ties), class 1 on
    50 px with distinct confidences 0.5 + i/256, class 2 on 10 px at 0.875 and 20 px at
    0.75 (ties at its threshold). All values are exact in float16."""
    labels = torch.cat([torch.zeros(120), torch.ones(50), torch.full((30,), 2.0)]).long()
    confidence = torch.cat([torch.ones(120), 0.5 + torch.arange(50) / 256,
                            torch.full((10,), 0.875), torch.full((20,), 0.75)])
    order = torch.randperm(200, generator=torch.Generator().manual_seed(seed))
    return labels[order].view(2, 10, 10), confidence[order].view(2, 10, 10)


def labeled_set():
    """Labeled maps with 50 / 30 / 20 valid pixels of classes 0 / 1 / 2 and 7 ignored."""
    values = torch.cat([torch.zeros(50), torch.ones(30), torch.full((20,), 2.0),
                        torch.full((7,), 255.0)]).long()
    return [values[:60].view(6, 10), values[60:]]


def test_labeled_distribution_ignores_255():
    r = labeled_class_distribution(labeled_set(), 3)
    torch.testing.assert_close(r, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))


def test_target_counts_are_floored():
    r = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    assert target_counts(r, 0.5, 200).tolist() == [50, 30, 20]
    assert target_counts(r, 0.4, 101).tolist() == [20, 12, 8]  # 20.2, 12.12, 8.08


def test_confidence_codes_are_ordered_float16_bits():
    values = torch.tensor([0.0, 1e-3, 0.5, 0.5 + 1 / 2048, 0.75, 1.0])
    codes = confidence_codes(values)
    assert codes.tolist() == sorted(codes.tolist())
    assert len(set(codes.tolist())) == len(values)
    assert int(codes[-1]) == NUM_CODES - 1


def test_thresholds_sampling_and_exact_counts_with_ties():
    label, confidence = hand_built_set()
    r = labeled_class_distribution(labeled_set(), 3)
    result = dars_select(label, confidence, r, alpha=0.5, seed=3)
    thresholds = result.thresholds
    assert thresholds.targets.tolist() == [50, 30, 20]
    # t_j = the n_j-th largest confidence of class j
    assert thresholds.values.tolist() == [1.0, 0.5 + 20 / 256, 0.75]
    assert thresholds.candidates.tolist() == [120, 30, 30]
    torch.testing.assert_close(thresholds.sampling_ratio,
                               torch.tensor([50 / 120, 1.0, 20 / 30], dtype=torch.float64))
    pseudo = result.pseudo_label
    assert class_counts(pseudo, 3).tolist() == [50, 30, 20]
    assert result.kl == pytest.approx(0.0, abs=1e-12)
    kept = pseudo != 255
    assert torch.equal(pseudo[kept], label[kept])  # selection never relabels
    # class 1 has no ties: exactly its 30 most confident pixels survive
    class1 = label == 1
    assert torch.equal(kept[class1], confidence[class1] >= 0.5 + 20 / 256)
    # class 2: 20 of the 30 candidates, none below the threshold
    assert bool((confidence[kept & (label == 2)] >= 0.75).all())
    assert result.quotas.sum(0).tolist() == [50, 30, 20]


def test_sampling_is_seeded_and_uniform_over_candidates():
    label, confidence = hand_built_set()
    r = labeled_class_distribution(labeled_set(), 3)
    first = dars_select(label, confidence, r, alpha=0.5, seed=1).pseudo_label
    assert torch.equal(first, dars_select(label, confidence, r, alpha=0.5, seed=1).pseudo_label)
    assert not torch.equal(first, dars_select(label, confidence, r, alpha=0.5, seed=2).pseudo_label)
    # every class-0 candidate is kept with probability 50/120, wherever it lies
    frequency = torch.zeros(2, 10, 10, dtype=torch.float64)
    runs = 300
    for seed in range(runs):
        frequency += (dars_select(label, confidence, r, 0.5, seed=seed).pseudo_label == 0).double()
    per_pixel = frequency[label == 0] / runs
    expected = 50 / 120
    assert abs(float(per_pixel.mean()) - expected) < 1e-9  # exact count every time
    per_image = [float((frequency[i][label[i] == 0] / runs).mean()) for i in range(2)]
    std = math.sqrt(expected * (1 - expected) / (runs * 60))
    for value in per_image:
        assert abs(value - expected) < 6 * std


def test_overflow_keeps_every_pixel_and_zero_target_keeps_none():
    label = torch.tensor([[0] * 12 + [1] * 4]).view(1, 4, 4)
    confidence = torch.tensor([[1.0] * 6 + [0.75] * 6 + [0.5, 0.625, 0.875, 0.9375]]).view(1, 4, 4)
    result = dars_select(label, confidence, torch.tensor([0.5, 0.5]), alpha=1.0)
    assert result.thresholds.targets.tolist() == [8, 8]
    assert result.thresholds.overflow.tolist() == [False, True]
    assert result.thresholds.values.tolist() == [0.75, 0.5]  # overflow: the smallest one
    assert class_counts(result.pseudo_label, 2).tolist() == [8, 4]
    none = dars_select(label, confidence, torch.tensor([1.0, 0.0]), alpha=1.0)
    assert none.thresholds.targets.tolist() == [16, 0]
    assert class_counts(none.pseudo_label, 2).tolist() == [12, 0]
    assert bool((none.pseudo_label[label == 1] == 255).all())


def test_per_image_mode_follows_the_official_rounding():
    # class 0 saturated on 7 + 5 pixels, n_0 = 6: s_0 = 1/2; each image ignores int(m - m s)
    label = torch.stack([torch.tensor([0] * 7 + [1] * 9), torch.tensor([0] * 5 + [1] * 11)])
    label = label.view(2, 4, 4)
    confidence = torch.ones(2, 4, 4)
    r = torch.tensor([6 / 32, 26 / 32], dtype=torch.float64)
    official = dars_select(label, confidence, r, alpha=1.0, mode="per_image")
    assert official.quotas[:, 0].tolist() == [7 - int(3.5), 5 - int(2.5)]  # 4 + 3 = 7 > 6
    exact = dars_select(label, confidence, r, alpha=1.0, mode="exact")
    assert int(exact.quotas[:, 0].sum()) == 6
    assert class_counts(exact.pseudo_label, 2).tolist() == [6, 20]  # class 1 overflows


def test_plugin_rule_streams_to_the_same_pseudo_labels():
    from benchmark.self_training import SelectionContext
    from methods.dars import DARS

    label, confidence = hand_built_set(seed=5)
    r = labeled_class_distribution(labeled_set(), 3)
    predictions = list(zip(label, confidence))
    context = SelectionContext(1, {"alpha": 0.5}, r, 200, ("a", "b", "c"), seed=11)
    selection = DARS.select_pseudo_labels(SimpleNamespace(sampling="exact"), predictions,
                                          context)
    streamed = torch.stack([selection.label(i, lab, conf)
                            for i, (lab, conf) in enumerate(predictions)])
    expected = dars_select(label, confidence, r, alpha=0.5, seed=11).pseudo_label
    assert torch.equal(streamed, expected)
    assert selection.details["targets"] == {"a": 50, "b": 30, "c": 20}
    assert selection.diagnostics["overflow_classes"] == 0.0


def test_quota_split_totals_below_and_beyond_numpy_limit():
    rng = np.random.default_rng(0)
    small = np.array([7, 0, 5, 12], dtype=np.int64)
    quotas = _hypergeometric_split(small, 10, rng)
    assert int(quotas.sum()) == 10 and bool((quotas <= small).all()) and quotas[1] == 0
    colors = np.array([600_000_001, 700_000_000, 500_000_002], dtype=np.int64)
    quotas = _hypergeometric_split(colors, 900_000_000, rng)
    assert int(quotas.sum()) == 900_000_000
    assert bool((quotas <= colors).all())
    expected = colors * 900_000_000 / colors.sum()
    assert bool((np.abs(quotas - expected) <= 1).all())


def test_kl_divergence_hand_value():
    p, q = torch.tensor([1.0, 1.0]), torch.tensor([1.0, 3.0])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(p, q) == pytest.approx(expected)
    assert kl_divergence(torch.tensor([0.0, 1.0]), torch.tensor([5.0, 5.0])) == \
        pytest.approx(math.log(2))
