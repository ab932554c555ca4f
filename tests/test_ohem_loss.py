"""The official OHEM cross-entropy (UniMatch / U2PL Cityscapes) against hand computations.

Two-class logits ``(log(1 - q), log q)`` with label 1 give the true-class probability
``q`` of every pixel, so the kept set and the loss ``mean(-log q)`` over it are worked out
by hand below. Pixels labelled 255 carry a hopeless prediction (q = 0.01): they would
be the hardest pixels if they were not ignored.
"""

from __future__ import annotations

import math

import pytest
import torch
from mmengine.config import Config

from benchmark.models.ohem_loss import ProbOhemCrossEntropyLoss, ohem_keep_mask
from benchmark.paths import CONFIG_ROOT

IGNORE = None  # a pixel labelled 255
# each batch: 2 images of 1 x 4 pixels (one official per-GPU batch), q per pixel
CONFIDENT = [[0.95, 0.90, 0.99, 0.80], [IGNORE, 0.85, 0.97, 0.90]]
HARD = [[0.30, 0.60, 0.95, 0.65], [0.90, 0.20, IGNORE, 0.75]]


def batch(images: list[list[float | None]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 2, 1, W)`` logits and ``(N, 1, W)`` labels with true-class probabilities ``q``."""
    q = torch.tensor([[0.01 if p is None else p for p in row] for row in images],
                     dtype=torch.float64)
    logits = torch.stack([torch.log(1 - q), torch.log(q)], dim=1).unsqueeze(2)
    label = torch.tensor([[255 if p is None else 1 for p in row] for row in images])
    return logits.requires_grad_(), label.unsqueeze(1)


def mean_nll(qs: list[float]) -> float:
    return sum(-math.log(q) for q in qs) / len(qs)


def loss(images, min_kept: int, images_per_group: int | None = 2) -> float:
    logits, label = batch(images)
    criterion = ProbOhemCrossEntropyLoss(thresh=0.7, min_kept=min_kept,
                                         images_per_group=images_per_group)
    return criterion(logits, label).item()


def test_confident_batch_min_kept_raises_the_threshold_and_keeps_ties():
    # 7 valid q sorted: .80 .85 .90 .90 .95 .97 .99; the 3rd smallest (.90) > 0.7 becomes
    # the threshold and q <= .90 keeps 4 pixels, both .90 included
    logits, label = batch(CONFIDENT)
    kept = ohem_keep_mask(logits, label, thresh=0.7, min_kept=3)
    assert kept.squeeze(1).tolist() == [[False, True, False, True], [False, True, False, True]]
    assert loss(CONFIDENT, min_kept=3) == pytest.approx(mean_nll([0.90, 0.80, 0.85, 0.90]),
                                                        rel=1e-9)


def test_hard_batch_threshold_decides():
    # 2nd smallest q is .30 < 0.7, so the threshold stays 0.7: .30 .60 .65 .20 are kept
    logits, label = batch(HARD)
    kept = ohem_keep_mask(logits, label, thresh=0.7, min_kept=2)
    assert kept.squeeze(1).tolist() == [[True, True, False, True], [False, True, False, False]]
    assert loss(HARD, min_kept=2) == pytest.approx(mean_nll([0.30, 0.60, 0.65, 0.20]), rel=1e-9)


def test_fewer_valid_pixels_than_min_kept_keep_every_valid_pixel():
    every_valid = mean_nll([0.30, 0.60, 0.95, 0.65, 0.90, 0.20, 0.75])
    assert loss(HARD, min_kept=8) == pytest.approx(every_valid, rel=1e-9)
    # min_kept == valid count: the threshold is the largest q, again everything
    assert loss(HARD, min_kept=7) == pytest.approx(every_valid, rel=1e-9)
    # min_kept 0: the official code filters only when min_kept > 0
    assert loss(HARD, min_kept=0) == pytest.approx(every_valid, rel=1e-9)


def test_groups_are_official_per_gpu_batches_averaged():
    # per group of 2 images with min_kept 3: the confident group keeps q <= .90 (above);
    # the hard group's 3rd smallest is .60 < 0.7, so it keeps q <= 0.7 as before
    confident, hard = mean_nll([0.90, 0.80, 0.85, 0.90]), mean_nll([0.30, 0.60, 0.65, 0.20])
    assert loss(CONFIDENT + HARD, min_kept=3) == pytest.approx((confident + hard) / 2, rel=1e-9)
    # one group of 4 images: 3rd smallest of all 14 valid is .60, no confident pixel is kept
    assert loss(CONFIDENT + HARD, min_kept=3, images_per_group=None) == pytest.approx(
        hard, rel=1e-9)


def test_gradient_reaches_only_kept_pixels():
    logits, label = batch(CONFIDENT)
    ProbOhemCrossEntropyLoss(min_kept=3)(logits, label).backward()
    reached = logits.grad.abs().sum(dim=1).squeeze(1) > 0
    assert reached.tolist() == [[False, True, False, True], [False, True, False, True]]


def test_batch_without_valid_pixels_is_zero_with_a_graph():
    logits, label = batch([[IGNORE, IGNORE]])
    value = ProbOhemCrossEntropyLoss(min_kept=1)(logits, label)
    value.backward()
    assert value.item() == 0.0 and logits.grad is not None


def test_sampler_weights_are_refused():
    logits, label = batch(HARD)
    with pytest.raises(ValueError, match="sampler"):
        ProbOhemCrossEntropyLoss()(logits, label, weight=torch.ones_like(label, dtype=float))


def test_decode_head_loss_is_the_hand_value(plugins_loaded):
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    head = MODELS.build(dict(
        type="OfficialDeepLabV3PlusHead", in_channels=8, channels=4, c1_in_channels=4,
        c1_channels=2, num_classes=2, dropout_ratio=0.0, align_corners=True,
        loss_decode=dict(type="ProbOhemCrossEntropyLoss", thresh=0.7, min_kept=3)))
    logits, label = batch(CONFIDENT)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=lab.unsqueeze(0))) for lab in label]
    losses = head.loss_by_feat(logits, samples)
    assert losses["loss_ce"].item() == pytest.approx(mean_nll([0.90, 0.80, 0.85, 0.90]),
                                                     rel=1e-6)


@pytest.mark.parametrize("protocol, min_kept", [("cityscapes", 200000),
                                                ("cityscapes_u2pl", 100000)])
def test_cityscapes_protocols_use_their_official_setting(protocol, min_kept):
    from benchmark.protocols import get_protocol

    cfg = Config.fromfile(get_protocol(protocol).base_config)
    head = cfg.model.segmentor.decode_head
    assert "sampler" not in head
    assert head.loss_decode == dict(type="ProbOhemCrossEntropyLoss", thresh=0.7,
                                    min_kept=min_kept, images_per_group=2)
    pascal = Config.fromfile(CONFIG_ROOT / "protocols" / "pascal.py")
    assert pascal.model.segmentor.decode_head.loss_decode.type == "CrossEntropyLoss"
