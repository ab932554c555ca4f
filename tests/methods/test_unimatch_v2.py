"""UniMatch V2: Complementary Dropout's masks and the loss against hand computations
(docs/methods/unimatch_v2.md)."""

from __future__ import annotations

import pytest
import torch

from methods.ops.complementary_dropout import complementary_channel_masks, complementary_dropout
from tests.conftest import build_model, build_run_config, num_classes, real_batch
from tests.methods.fake_network import ce_map, patch_with_conv


@pytest.mark.parametrize("pairs, ratio", [(8, 0.5), (7, 0.5), (4, 1.0), (5, 0.0)])
def test_complementary_masks_split_every_channel_between_the_views(pairs, ratio):
    generator = torch.Generator().manual_seed(3)
    mask_1, mask_2 = complementary_channel_masks(pairs, 96, ratio, generator=generator)
    assert mask_1.shape == mask_2.shape == (pairs, 96)
    perturbed = (mask_1 != 1).any(dim=1)
    assert int(perturbed.sum()) == int(pairs * ratio)  # the official count of dropped pairs
    # perturbed pairs: each channel kept (x2) in exactly one view, dropped in the other
    kept_1, kept_2 = mask_1[perturbed] / 2, mask_2[perturbed] / 2
    assert set(kept_1.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(kept_1 + kept_2, torch.ones_like(kept_1))
    # the other pairs pass unchanged in both views
    assert torch.equal(mask_1[~perturbed], torch.ones_like(mask_1[~perturbed]))
    assert torch.equal(mask_2[~perturbed], torch.ones_like(mask_2[~perturbed]))


def test_complementary_masks_drop_half_the_channels_on_average():
    generator = torch.Generator().manual_seed(0)
    mask_1, _ = complementary_channel_masks(64, 512, 1.0, generator=generator)
    assert abs(float((mask_1 == 0).float().mean()) - 0.5) < 0.01


def test_complementary_masks_reject_a_ratio_outside_0_1():
    with pytest.raises(ValueError, match=r"drop_ratio must be in \[0, 1\]"):
        complementary_channel_masks(2, 4, 1.5)


def test_complementary_dropout_shares_one_mask_pair_per_width():
    """ViT: the four maps of an image get the same mask; ResNet widths get their own."""
    torch.manual_seed(0)
    view = torch.rand(3, 16, 5, 5) + 0.1
    same_width = [torch.cat([view, view])] * 4
    other_width = torch.rand(6, 8, 5, 5) + 0.1
    out = complementary_dropout([*same_width, other_width], drop_ratio=1.0)
    masks = [o / f for o, f in zip(out, [*same_width, other_width])]
    for mask in masks[1:4]:
        torch.testing.assert_close(mask, masks[0])
    for mask in (masks[0], masks[4]):  # per sample and channel, complementary halves
        first, second = mask[:3], mask[3:]
        torch.testing.assert_close(first + second, torch.full_like(first, 2.0))
        assert torch.equal(first.amax(dim=(2, 3)), first.amin(dim=(2, 3)))
    # the two views of the same image rebuild it exactly: f * m1 + f * m2 = 2 f
    torch.testing.assert_close(out[0][:3] + out[0][3:], 2 * view)


def _setup(tmp_path, **options):
    cfg = build_run_config("unimatch_v2", tmp_path, **options)
    model = build_model(cfg)
    model.train()
    data = model.data_preprocessor(real_batch(cfg, batch_size=4, seed=1), True)
    return cfg, model, data["inputs"], data["data_samples"]


def _mixed(box, main, partner):
    box = box.bool()
    return torch.where(box if main.dim() == 3 else box[:, None], partner, main)


def test_loss_terms_and_weights_match_the_official_code(tmp_path):
    cfg, model, inputs, samples = _setup(tmp_path, **{"model.conf_thresh": 0.3})
    assert cfg.train_dataloader.dataset.mix_batch is False  # partner: the reversed batch
    conv = patch_with_conv(model)
    scale = torch.linspace(0.5, 1.5, num_classes()).view(1, -1, 1, 1)
    model.strong_stream_logits = lambda views: (conv(torch.cat(views)) * scale).chunk(2)
    u = inputs["unlabeled"]
    u.pad_mask[:, :, 56:] = True  # padding on the right of every crop
    losses = model.loss(inputs, samples)

    with torch.no_grad():
        probs = conv(u.weak).softmax(1)
    conf, label, valid = probs.max(1).values, probs.argmax(1), ~u.pad_mask
    for k in range(2):
        box = u.cutmix_boxes[:, k]
        strong = _mixed(box, u.strong[k], u.strong[k].flip(0))
        target = _mixed(box, label, label.flip(0))
        select = _mixed(box, conf, conf.flip(0)) >= 0.3
        valid_k = _mixed(box, valid, valid.flip(0))
        ce = ce_map(conv(strong) * scale, target)
        expected = (ce * select * valid_k).sum() / valid_k.sum()
        # L = 1/2 [L_x + (L_s1 + L_s2) / 2]: each strong term weighs 1/4
        torch.testing.assert_close(losses[f"unsup.loss_strong{k + 1}"], expected / 4)
        assert 0 < float(select.float().mean()) < 1
    labels = torch.stack([s.gt_sem_seg.data[0] for s in samples["labeled"]]).long()
    known = labels != 255
    supervised = ce_map(conv(inputs["labeled"]), labels)[known].mean()
    torch.testing.assert_close(losses["sup.loss_ce"], supervised / 2)
    torch.testing.assert_close(losses["diag.mask_ratio"],
                               ((conf >= 0.3) & valid).sum() / valid.sum())


def test_unsup_weight_scales_the_strong_terms(tmp_path):
    _, model, inputs, samples = _setup(tmp_path, **{"model.conf_thresh": 0.0})
    patch_with_conv(model)
    model.strong_stream_logits = lambda views: model.raw_logits(None, torch.cat(views)).chunk(2)
    base = model.loss(inputs, samples)
    model.unsup_weight = 2.0
    doubled = model.loss(inputs, samples)
    for key in ("unsup.loss_strong1", "unsup.loss_strong2"):
        torch.testing.assert_close(doubled[key], 2 * base[key])


def test_the_strong_stream_differs_from_the_clean_network_only_by_the_dropout(tmp_path):
    _, model, inputs, _ = _setup(tmp_path)
    views = list(inputs["unlabeled"].strong)
    clean = model.raw_logits(model.student, torch.cat(views)).chunk(2)
    model.drop_ratio = 0.0
    for got, expected in zip(model.strong_stream_logits(views), clean):
        torch.testing.assert_close(got, expected)
    model.drop_ratio = 1.0
    torch.manual_seed(0)
    perturbed = model.strong_stream_logits(views)
    assert all((p - c).abs().mean() > 1e-4 for p, c in zip(perturbed, clean))


def test_the_teacher_gives_the_pseudo_labels_and_is_evaluated(tmp_path):
    _, model, inputs, samples = _setup(tmp_path)
    assert model.ema_momentum == 0.996 and model.ema_buffers == "ema"
    assert model.predict_on == "teacher" and not model.teacher.training
    reported = {}
    model.report_pseudo_labels = lambda name, labels: reported.update({name: labels})
    with torch.no_grad():  # a teacher unlike the student: its argmax is the pseudo-label
        for param in model.teacher.parameters():
            param.add_(torch.randn_like(param) * 0.5)
    model.loss(inputs, samples)
    expected = model.teacher_logits(inputs["unlabeled"].weak).argmax(1)
    assert torch.equal(reported["pseudo_label"], expected)
    student_labels = model.logits(model.student, inputs["unlabeled"].weak).argmax(1)
    assert not torch.equal(expected, student_labels)


def test_without_a_teacher_the_method_stops(tmp_path):
    from mmseg.registry import MODELS

    cfg = build_run_config("unimatch_v2", tmp_path)
    cfg.model.ema_momentum = None
    cfg.model.predict_on = "student"
    with pytest.raises(ValueError, match="needs its EMA teacher"):
        MODELS.build(cfg.model)


def test_the_published_numbers_are_a_separate_block_of_table():
    import pandas as pd

    from benchmark.reporting.published import published_block

    expected = {"pascal_classic": {"92": 86.3, "183": 87.9, "366": 88.9, "732": 90.0,
                                   "1464": 90.8},
                "cityscapes": {"1_16": 83.6, "1_8": 84.3, "1_4": 84.5, "1_2": 85.1}}
    for protocol, values in expected.items():
        block = published_block(pd.DataFrame(), protocol)
        rows = block.data[block.data.method == "unimatch_v2"]
        assert dict(zip(rows.split, rows.published)) == values
        assert set(rows.backbone) == {"DPT DINOv2-B"}
        assert "never mixed into our rows" in block.title
