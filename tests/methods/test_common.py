"""Shared method pieces against hand computations."""

from __future__ import annotations

import math

import torch

from methods.common import masked_cross_entropy, mix_maps, pseudo_label_targets
from methods.common.box_masks import box_masks, shifted_partner


def test_masked_cross_entropy_matches_pixel_loop():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    target = torch.randint(0, 3, (2, 4, 5))
    valid = torch.rand(2, 4, 5) > 0.2
    mask = torch.rand(2, 4, 5) > 0.5
    weight = torch.rand(2, 4, 5)
    total = 0.0
    for b in range(2):
        for y in range(4):
            for x in range(5):
                if valid[b, y, x] and mask[b, y, x]:
                    log_p = logits[b, :, y, x].log_softmax(0)[target[b, y, x]]
                    total += -float(log_p) * float(weight[b, y, x])
    expected = total / int(valid.sum())
    got = masked_cross_entropy(logits, target, valid, mask=mask, weight=weight)
    assert math.isclose(float(got), expected, rel_tol=1e-5)


def test_masked_cross_entropy_ignores_padding_targets_and_survives_empty():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    target = torch.tensor([[[0, 254], [1, 255]]])
    valid = torch.tensor([[[True, False], [True, False]]])
    loss = masked_cross_entropy(logits, target, valid)
    expected = -(logits[0, :, 0, 0].log_softmax(0)[0] + logits[0, :, 1, 0].log_softmax(0)[1]) / 2
    torch.testing.assert_close(loss, expected)
    empty = masked_cross_entropy(logits, target, torch.zeros_like(valid))
    assert float(empty) == 0.0
    empty.backward()
    assert logits.grad is not None


def test_pseudo_label_ties_go_to_lowest_class():
    logits = torch.zeros(1, 4, 1, 2)
    logits[0, 2, 0, 1] = 1.0
    probs, confidence, label = pseudo_label_targets(logits)
    assert label.tolist() == [[[0, 2]]]
    torch.testing.assert_close(confidence[0, 0, 0], torch.tensor(0.25))
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 1, 2))


def test_mix_maps_takes_partner_inside_box_for_maps_and_images():
    box = torch.tensor([[[1, 0], [0, 0]]])
    main, partner = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    assert mix_maps(box, main, partner).tolist() == [[[1, 0], [0, 0]]]
    image = mix_maps(box, torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2))
    assert image[0, :, 0, 0].tolist() == [1, 1, 1] and image[0, :, 1, 1].sum() == 0


def test_box_masks_area_and_xor():
    generator = torch.Generator().manual_seed(0)
    one_box = box_masks(200, 64, 64, (0.5, 0.5), generator=generator)
    area = one_box.mean(dim=(1, 2))
    assert torch.all((area - 0.5).abs() < 0.06)  # rounding of the box sides only
    three = box_masks(200, 64, 64, (0.25, 0.5), n_boxes=3, generator=generator)
    assert three.max() == 1 and three.min() == 0
    # XOR: overlapping boxes cancel, so coverage never exceeds the sum of box areas
    assert float(three.mean(dim=(1, 2)).max()) <= 0.5 + 0.02


def test_shifted_partner_has_no_fixed_point():
    for seed in range(20):
        partner = shifted_partner(5, torch.Generator().manual_seed(seed))
        assert sorted(partner.tolist()) == list(range(5))
        assert all(p != i for i, p in enumerate(partner.tolist()))
