"""Sliding-window placement (official and MMSeg rules), evaluation and labeller agreement."""

from __future__ import annotations

import pytest
import torch
from mmengine.config import ConfigDict

from benchmark.models.semi_segmentor import SemiSegmentor
from benchmark.models.sliding_window import (
    axis_windows,
    covered_by_same_windows,
    window_boxes,
)
from benchmark.self_training import LabelingSettings, teacher_probabilities


def test_windows_of_a_small_image_by_hand():
    # 6 x 11 pixels, window 4, stride 3
    official = [(0, 4, 0, 4), (0, 4, 3, 7), (0, 4, 6, 10), (0, 4, 9, 11),
                (3, 6, 0, 4), (3, 6, 3, 7), (3, 6, 6, 10), (3, 6, 9, 11)]
    mmseg = [(0, 4, 0, 4), (0, 4, 3, 7), (0, 4, 6, 10), (0, 4, 7, 11),
             (2, 6, 0, 4), (2, 6, 3, 7), (2, 6, 6, 10), (2, 6, 7, 11)]
    assert window_boxes(6, 11, (4, 4), (3, 3), "official") == official
    assert window_boxes(6, 11, (4, 4), (3, 3), "mmseg") == mmseg


def test_windows_along_one_axis_by_hand():
    # the official rule starts a window wherever the stride lands inside the image
    assert axis_windows(5, 4, 3, "official") == [(0, 4), (3, 5)]
    assert axis_windows(5, 4, 3, "mmseg") == [(0, 4), (1, 5)]
    assert axis_windows(600, 801, 534, "official") == [(0, 600), (534, 600)]
    assert axis_windows(600, 801, 534, "mmseg") == [(0, 600)]
    assert axis_windows(3, 4, 3, "official") == axis_windows(3, 4, 3, "mmseg") == [(0, 3)]
    assert axis_windows(10, 4, 3, "mmseg") == [(0, 4), (3, 7), (6, 10)]
    assert axis_windows(10, 4, 3, "official") == [(0, 4), (3, 7), (6, 10), (9, 10)]


def test_cityscapes_windows_by_hand():
    assert axis_windows(1024, 801, 534, "official") == [(0, 801), (534, 1024)]
    assert axis_windows(1024, 801, 534, "mmseg") == [(0, 801), (223, 1024)]
    assert axis_windows(2048, 801, 534, "official") == [(0, 801), (534, 1335), (1068, 1869),
                                                        (1602, 2048)]
    assert axis_windows(2048, 801, 534, "mmseg") == [(0, 801), (534, 1335), (1068, 1869),
                                                     (1247, 2048)]
    # same windows only above row 223 (the second row window differs) and left of
    # column 1247 (the last column window differs)
    same = covered_by_same_windows(1024, 2048, (801, 801), (534, 534))
    assert int(same.sum()) == 223 * 1247
    assert bool(same[:223, :1247].all())


def test_unknown_rule_is_an_error_at_build_time():
    with pytest.raises(ValueError, match="unknown sliding-window rule 'clipped'"):
        _network("clipped")
    with pytest.raises(ValueError, match="choose one of: official, mmseg"):
        axis_windows(10, 4, 3, "shift")


def _network(rule: str | None):
    from mmseg.registry import MODELS

    import benchmark.models  # noqa: F401

    test_cfg = dict(mode="slide", crop_size=(32, 32), stride=(21, 21))
    if rule is not None:
        test_cfg["window_rule"] = rule
    torch.manual_seed(0)
    return MODELS.build(dict(
        type="SlideSoftmaxEncoderDecoder",
        backbone=dict(type="TimmBackbone", model_name="test_resnet"),
        decode_head=dict(type="DepthwiseSeparableASPPHead", in_channels=96, in_index=1,
                         channels=8, dilations=(1, 2), c1_in_channels=32, c1_channels=4,
                         num_classes=3, align_corners=True),
        test_cfg=ConfigDict(test_cfg))).eval()


def _reference_official(network, image, meta, window, stride):
    """UniMatch's loop, written out: rows and columns from 0 in steps while inside."""
    height, width = image.shape[-2:]
    total = torch.zeros(1, 3, height, width)
    count = torch.zeros(1, 1, height, width)
    row = 0
    while row < height:
        col = 0
        while col < width:
            crop = image[:, :, row:min(height, row + window), col:min(width, col + window)]
            logits = network.encode_decode(crop, [dict(meta, img_shape=crop.shape[2:])])
            total[:, :, row:row + window, col:col + window] += logits.softmax(dim=1)
            count[:, :, row:row + window, col:col + window] += 1
            col += stride
        row += stride
    return total, count


def _reference_mmseg(network, image, meta, window, stride):
    """MMSeg's grid: ceil-like count of windows, the last moved back inside."""
    height, width = image.shape[-2:]
    total = torch.zeros(1, 3, height, width)
    count = torch.zeros(1, 1, height, width)
    for h_idx in range(max(height - window + stride - 1, 0) // stride + 1):
        for w_idx in range(max(width - window + stride - 1, 0) // stride + 1):
            y2, x2 = min(h_idx * stride + window, height), min(w_idx * stride + window, width)
            y1, x1 = max(y2 - window, 0), max(x2 - window, 0)
            crop = image[:, :, y1:y2, x1:x2]
            logits = network.encode_decode(crop, [dict(meta, img_shape=crop.shape[2:])])
            total[:, :, y1:y2, x1:x2] += logits.softmax(dim=1)
            count[:, :, y1:y2, x1:x2] += 1
    return total, count


@pytest.mark.parametrize("rule, reference", [("official", _reference_official),
                                             ("mmseg", _reference_mmseg), (None,
                                                                           _reference_official)])
def test_prediction_equals_a_straightforward_reference(rule, reference):
    from mmseg.structures import SegDataSample

    network = _network(rule)
    image = torch.randn(1, 3, 40, 70, generator=torch.Generator().manual_seed(1))
    meta = dict(ori_shape=(40, 70), img_shape=(40, 70), pad_shape=(40, 70),
                padding_size=[0, 0, 0, 0])
    with torch.no_grad():
        result = network.predict(image, [SegDataSample(metainfo=meta)])[0]
        total, count = reference(network, image, meta, 32, 21)
    assert count.min() >= 1
    torch.testing.assert_close(result.seg_logits.data, (total / count)[0], atol=1e-6, rtol=0)
    assert torch.equal(result.pred_sem_seg.data[0], total[0].argmax(dim=0))  # the plain sum


def test_the_rules_predict_differently_near_the_border():
    from mmseg.structures import SegDataSample

    image = torch.randn(1, 3, 40, 70, generator=torch.Generator().manual_seed(1))
    meta = dict(ori_shape=(40, 70), img_shape=(40, 70), pad_shape=(40, 70),
                padding_size=[0, 0, 0, 0])
    with torch.no_grad():
        official, mmseg = (_network(rule).predict(image, [SegDataSample(metainfo=meta)])[0]
                           .seg_logits.data for rule in ("official", "mmseg"))
    same = covered_by_same_windows(40, 70, (32, 32), (21, 21))
    assert not same.all()
    torch.testing.assert_close(official[:, same], mmseg[:, same], atol=1e-6, rtol=0)
    assert (official[:, ~same] - mmseg[:, ~same]).abs().max() > 1e-3


@pytest.mark.parametrize("rule", ["official", "mmseg"])
def test_labeller_and_evaluation_agree(rule):
    network = _network(rule)
    image = torch.randn(2, 3, 40, 70, generator=torch.Generator().manual_seed(2))
    metas = [dict(ori_shape=(40, 70), img_shape=(40, 70), pad_shape=(40, 70),
                  padding_size=[0, 0, 0, 0])] * 2
    # the labeller's network call (SemiSegmentor.logits) and stride ceil(21/32 * 32) = 21;
    # without a rule of its own the labeller takes the network's
    settings = LabelingSettings(mode="slide", window=(32, 32),
                                stride_ratio=21 / 32).for_network(network)
    assert settings.window_rule == rule

    def logits(x):
        return SemiSegmentor.upsample(network, SemiSegmentor.raw_logits(network, x),
                                      x.shape[-2:])

    with torch.no_grad():
        labeller = teacher_probabilities(logits, image, settings)
        evaluation = network.slide_inference(image, metas)
    torch.testing.assert_close(labeller, evaluation, atol=1e-6, rtol=0)
    assert torch.equal(labeller.argmax(dim=1), evaluation.argmax(dim=1))


def test_labeller_takes_mmseg_rule_from_a_network_that_evaluates_whole_images():
    from mmseg.registry import MODELS

    network = MODELS.build(dict(
        type="EncoderDecoder", backbone=dict(type="TimmBackbone", model_name="test_resnet"),
        decode_head=dict(type="FCNHead", in_channels=96, in_index=1, channels=4,
                         num_convs=1, num_classes=3), test_cfg=ConfigDict(mode="whole")))
    settings = LabelingSettings(mode="slide", window=(32, 32))
    assert settings.for_network(network).window_rule == "mmseg"
    assert settings.for_network(_network(None)).window_rule == "official"
    fixed = LabelingSettings(mode="slide", window=(32, 32), window_rule="official")
    assert fixed.for_network(network).window_rule == "official"


def test_cityscapes_protocols_use_the_official_rule(tmp_path, monkeypatch, plugins_loaded):
    from benchmark import protocols
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec
    from tests.real_fixtures import real_fixture

    for name, split in (("cityscapes", "1_8"), ("cityscapes_u2pl", "u2pl_1_8")):
        root = tmp_path / name
        monkeypatch.setattr(protocols, "SPLIT_LIST_ROOT", real_fixture(root, name, split))
        cfg = build_config(RunSpec("supervised", name, split, pretrained="none",
                                   backbone="r18"), root, tmp_path / "w")
        test_cfg = cfg.model.segmentor.test_cfg
        assert (test_cfg.mode, test_cfg.window_rule) == ("slide", "official")
        assert tuple(test_cfg.crop_size) == (801, 801) and tuple(test_cfg.stride) == (534, 534)
