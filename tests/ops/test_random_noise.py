"""Random cell-noise baseline (docs/methods/random_noise.md)."""

from __future__ import annotations

import math

import torch

from methods.ops.random_noise import num_noise_cells, random_noise_perturb


def _random_labels(shape, num_classes, seed):
    return torch.randint(num_classes, shape, generator=torch.Generator().manual_seed(seed))


def test_cell_count_rounding():
    assert num_noise_cells(321, 321, 0.025) == 164  # 81 * 81 = 6561 cells, 164.025
    assert num_noise_cells(8, 8, 0.125) == 1  # 0.5 rounds up
    assert num_noise_cells(63, 66, 1.0) == 16 * 17


def test_zero_fraction_changes_nothing():
    labels = _random_labels((2, 33, 35), 21, 0)
    out = random_noise_perturb(labels, None, 21, 0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, labels)


def test_changed_fraction_matches_expectation():
    num_classes, fraction = 21, 0.25
    labels = _random_labels((32, 64, 64), num_classes, 1)
    out = random_noise_perturb(labels, None, num_classes, fraction,
                               generator=torch.Generator().manual_seed(2))
    changed = float((out != labels).float().mean())
    # 64 of 256 cells per image are repainted; a pixel there changes w.p. 1 - 1/C.
    expected = 64 / 256 * (1 - 1 / num_classes)
    std = math.sqrt(expected * (1 - expected) / labels.numel())
    assert abs(changed - expected) < 6 * std + 1e-4


def test_cells_are_aligned_and_uniform():
    labels = torch.zeros(4, 30, 26, dtype=torch.long)  # 8 x 7 cells, border cells cropped
    out = random_noise_perturb(labels, None, 5, 0.5, generator=torch.Generator().manual_seed(3))
    padded = torch.full((4, 32, 28), -1, dtype=torch.long)
    padded[:, :30, :26] = out
    cells = padded.reshape(4, 8, 4, 7, 4).permute(0, 1, 3, 2, 4).reshape(4, 8, 7, 16)
    inside = cells >= 0
    cell_max = torch.where(inside, cells, -1).amax(-1)
    cell_min = torch.where(inside, cells, 99).amin(-1)
    assert torch.equal(cell_max, cell_min)  # every cell holds one class
    changed_cells = (cell_max != 0).flatten(1).sum(1)
    assert (changed_cells <= 28).all()  # round(0.5 * 56) cells painted, some with class 0
    assert float(changed_cells.float().mean()) > 28 * (1 - 1 / 5) - 6


def test_generator_makes_it_deterministic_and_logits_work():
    logits = torch.randn(2, 6, 20, 20, generator=torch.Generator().manual_seed(4))
    first = random_noise_perturb(logits, None, 6, 0.3, generator=torch.Generator().manual_seed(5))
    again = random_noise_perturb(logits, None, 6, 0.3, generator=torch.Generator().manual_seed(5))
    other = random_noise_perturb(logits, None, 6, 0.3, generator=torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert ((first != logits.argmax(1)).float().mean() > 0.1)


def test_padded_pixels_keep_the_pseudo_label():
    labels = _random_labels((2, 24, 24), 7, 7)
    pad_mask = torch.zeros(2, 24, 24, dtype=torch.bool)
    pad_mask[:, 12:] = True
    out = random_noise_perturb(labels, pad_mask, 7, 1.0, generator=torch.Generator().manual_seed(8))
    assert torch.equal(out[pad_mask], labels[pad_mask])
    assert float((out != labels)[~pad_mask].float().mean()) > 0.7
