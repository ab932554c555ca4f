"""UPC operator (ICCV 2023, eq. 1 and 3-7) and the UPC plugin's loss, against hand values."""

from __future__ import annotations

import math

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from methods.ops.upc import (
    draw_partners,
    entropy_map,
    patch_cutmix,
    patch_uncertainty,
    redundant_patch_cutmix,
    top_k_patch_mask,
    top_k_patches,
)


def patch_constant_entropy(values: list[float], patch: int = 2, grid: int = 4) -> torch.Tensor:
    """A ``[1, grid*patch, grid*patch]`` map, constant ``values[p]`` on raster patch ``p``."""
    table = torch.tensor(values, dtype=torch.float32).view(grid, grid)
    return table.repeat_interleave(patch, 0).repeat_interleave(patch, 1)[None]


def test_entropy_map_hand_values():
    probs = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]]).t().reshape(1, 2, 1, 3)
    expected = [math.log(2), 0.0, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]
    torch.testing.assert_close(entropy_map(probs)[0, 0], torch.tensor(expected))


def test_top_k_takes_highest_sums_with_ties_in_raster_order():
    values = [1, 0, 5, 0, 0, 7, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    entropy = patch_constant_entropy(values)
    torch.testing.assert_close(patch_uncertainty(entropy, 4)[0],
                               4 * torch.tensor(values, dtype=torch.float64))
    assert top_k_patches(entropy, 4, 3)[0].tolist() == [5, 2, 0]
    assert top_k_patches(entropy, 4, 5)[0].tolist() == [5, 2, 0, 7, 9]
    assert top_k_patches(torch.zeros(1, 8, 8), 4, 3)[0].tolist() == [0, 1, 2]  # all tied
    mask = top_k_patch_mask(entropy, 4, 2)[0]
    assert int(mask.sum()) == 8
    assert bool(mask[2:4, 2:4].all()) and bool(mask[0:2, 4:6].all())  # patches 5 and 2


def test_patch_boundaries_for_non_divisible_sizes():
    entropy = torch.zeros(1, 10, 10)
    entropy[0, 3, 5] = 1.0  # rows cut at 0,2,5,7,10: row 3 is band 1; column 5 is band 2
    mask = top_k_patch_mask(entropy, 4, 1)[0]
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[2:5, 5:7] = True
    assert torch.equal(mask, expected)


def test_patch_cutmix_copies_image_and_label_patches_exactly():
    generator = torch.Generator().manual_seed(0)
    unlabeled = torch.rand(2, 3, 8, 8, generator=generator)
    labeled = torch.rand(2, 3, 8, 8, generator=generator)
    pseudo = torch.randint(0, 4, (2, 8, 8), generator=generator)
    gt = torch.randint(0, 4, (2, 8, 8), generator=generator)
    gt[:, 0, :] = 255
    mask = torch.zeros(2, 8, 8, dtype=torch.bool)
    mask[:, :4, 4:] = True
    image = patch_cutmix(unlabeled, labeled, mask)
    label = patch_cutmix(pseudo, gt, mask)
    assert torch.equal(image[:, :, :4, 4:], labeled[:, :, :4, 4:])
    assert torch.equal(image[:, :, 4:], unlabeled[:, :, 4:])
    assert torch.equal(image[:, :, :, :4], unlabeled[:, :, :, :4])
    assert torch.equal(label[:, :4, 4:], gt[:, :4, 4:])  # the ground truth's 255s included
    assert bool((label[:, 0, 4:] == 255).all())
    assert torch.equal(label[~mask], pseudo[~mask])


def test_redundant_strategy_gives_three_pairs_with_distinct_k_and_partners():
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, 16, 16, generator=generator)
    pseudo = torch.randint(0, 4, (2, 16, 16), generator=generator)
    entropy = torch.rand(2, 16, 16, generator=generator)
    labeled = torch.rand(4, 3, 16, 16, generator=generator)
    gt = torch.randint(0, 4, (4, 16, 16), generator=generator)
    partners = draw_partners(2, 4, 3, generator=generator)
    assert all(len(set(row.tolist())) == 3 for row in partners)
    pairs = redundant_patch_cutmix(images, pseudo, entropy, labeled, gt, partners)
    assert pairs.ks == (2, 3, 5)
    assert pairs.images.shape == (6, 3, 16, 16) and pairs.labels.shape == (6, 16, 16)
    for block, k in enumerate((2, 3, 5)):
        for b in range(2):
            row = block * 2 + b
            mask = pairs.masks[row]
            partner = int(partners[b, block])
            assert int(pairs.partners[row]) == partner
            assert int(mask.sum()) == k * 16  # k patches of 4x4 pixels
            assert torch.equal(mask, top_k_patch_mask(entropy[b:b + 1], 4, k)[0])
            assert torch.equal(pairs.images[row][:, mask], labeled[partner][:, mask])
            assert torch.equal(pairs.images[row][:, ~mask], images[b][:, ~mask])
            assert torch.equal(pairs.labels[row][mask], gt[partner][mask])
            assert torch.equal(pairs.labels[row][~mask], pseudo[b][~mask])
    # the same entropy ranks the patches once: top-2 within top-3 within top-5
    assert bool((pairs.masks[0:2] <= pairs.masks[2:4]).all())
    assert bool((pairs.masks[2:4] <= pairs.masks[4:6]).all())


def test_partners_fall_back_to_independent_draws_with_few_labeled_crops():
    partners = draw_partners(5, 2, 3, generator=torch.Generator().manual_seed(0))
    assert partners.shape == (5, 3) and bool(((partners >= 0) & (partners < 2)).all())
    with pytest.raises(ValueError):
        draw_partners(1, 0, 3)


def test_upc_loss_is_mean_ce_over_all_pairs(tmp_path, monkeypatch):
    import methods.upc as upc_module
    from benchmark.self_training import SelfTrainingBatch
    from tests.conftest import build_model, build_run_config
    from tests.methods.fake_network import ce_map, patch_with_conv

    model = build_model(build_run_config("upc", tmp_path))
    conv = patch_with_conv(model)
    fixed = torch.tensor([[0, 1, 2], [3, 0, 1]])
    monkeypatch.setattr(upc_module, "draw_partners", lambda *args, **kwargs: fixed)
    monkeypatch.setattr(upc_module, "photometric_augment", lambda images, *args: images)
    generator = torch.Generator().manual_seed(2)
    labeled = torch.randn(4, 3, 8, 8, generator=generator)
    pseudo_images = torch.randn(2, 3, 8, 8, generator=generator)
    gt = torch.randint(0, 4, (4, 8, 8), generator=generator)
    gt[:, :, 0] = 255
    pseudo = torch.randint(0, 4, (2, 8, 8), generator=generator)
    pseudo[:, 7, :] = 255
    entropy = torch.rand(2, 8, 8, generator=generator)

    def samples(labels, entropies=None):
        out = []
        for i, label in enumerate(labels):
            sample = SegDataSample(gt_sem_seg=PixelData(data=label[None]))
            if entropies is not None:
                sample.set_data({"entropy_map": PixelData(data=entropies[i][None])})
            out.append(sample)
        return out

    batch = SelfTrainingBatch(labeled=labeled, labeled_samples=samples(gt),
                              pseudo_images=pseudo_images,
                              pseudo_samples=samples(pseudo, entropy), round_index=1)
    losses = model.compute_losses(batch)

    pairs = redundant_patch_cutmix(pseudo_images, pseudo, entropy, labeled, gt, fixed)
    valid = pairs.labels != 255
    expected = ce_map(conv(pairs.images), pairs.labels)[valid].mean()
    torch.testing.assert_close(losses["unsup.loss_upc"], expected)
    assert losses["diag.pasted_ratio"] == pytest.approx((2 + 3 + 5) / 16 / 3)


def test_fixmatch_takes_upc_as_an_online_plugin(tmp_path, monkeypatch):
    import methods.common.upc_online as online
    from tests.conftest import build_model, build_run_config, real_batch
    from tests.methods.fake_network import ce_map, patch_with_conv

    cfg = build_run_config("fixmatch", tmp_path, **{"model.conf_thresh": 0.3, "model.upc_k": 5})
    model = build_model(cfg)
    model.train()
    data = model.data_preprocessor(real_batch(cfg, batch_size=4, seed=1), True)
    inputs, samples = data["inputs"], data["data_samples"]
    conv = patch_with_conv(model)
    partner = torch.tensor([1, 0, 3, 2])
    monkeypatch.setattr(online, "draw_partners", lambda *args, **kwargs: partner[:, None])
    losses = model.loss(inputs, samples)

    u, mix = inputs["unlabeled"], inputs["unlabeled_mix"]
    labeled = inputs["labeled"]
    gt = torch.stack([s.gt_sem_seg.data[0] for s in samples["labeled"]]).long()[partner]
    with torch.no_grad():
        probs = conv(u.weak).softmax(1)
        probs_mix = conv(mix.weak).softmax(1)
    conf, label = probs.max(1).values, probs.argmax(1)
    valid = ~u.pad_mask
    # the 5 patches (16 x 16 px each) with the largest summed entropy, ties to raster order
    entropy = -(probs * probs.clamp(min=1e-30).log()).sum(1) * valid
    sums = entropy.view(4, 4, 16, 4, 16).sum((2, 4)).flatten(1)
    mask = torch.zeros(4, 64, 64, dtype=torch.bool)
    for b in range(4):
        ranked = sorted(range(16), key=lambda p: (-float(sums[b, p]), p))[:5]
        for p in ranked:
            mask[b, 16 * (p // 4):16 * (p // 4 + 1), 16 * (p % 4):16 * (p % 4 + 1)] = True
    strong = torch.where(mask[:, None], labeled[partner], u.strong[0])
    label = torch.where(mask, torch.where(gt == 255, 0, gt), label)
    conf = torch.where(mask, torch.ones_like(conf), conf)
    valid = torch.where(mask, gt != 255, valid)
    box = u.cutmix_boxes[:, 0].bool()
    strong = torch.where(box[:, None], mix.strong[0], strong)
    target = torch.where(box, probs_mix.argmax(1), label)
    select = torch.where(box, probs_mix.max(1).values, conf) >= 0.3
    valid = torch.where(box, ~mix.pad_mask, valid)
    ce = ce_map(conv(strong), target)
    expected = (ce * select * valid).sum() / valid.sum() / 2
    torch.testing.assert_close(losses["unsup.loss_strong"], expected)
    assert bool((mask & ~box).any())  # some pasted patch survives the CutMix box
