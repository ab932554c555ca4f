"""The semi-supervised data pipeline: alignment, padding, no labels in the unlabeled branch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.data.transforms import (
    IGNORE,
    UNLABELED_PAD,
    PackUnlabeledInputs,
    PadToCrop,
    StrongViews,
    unimatch_cutmix_box,
)
from tests.conftest import build_run_config, num_classes, real_batch


def _results(h=40, w=30):
    img = np.full((h, w, 3), 60, np.uint8)
    img[10:13, 20:23] = 255  # a bright 3x3 dot
    seg = np.zeros((h, w), np.uint8)
    seg[10:13, 20:23] = 3
    return {"img": img, "gt_seg_map": seg, "seg_fields": ["gt_seg_map"]}


def test_pad_to_crop_marks_unlabeled_padding_with_sentinel():
    out = PadToCrop(48, seg_pad_val=UNLABELED_PAD).transform(_results())
    assert out["img"].shape == (48, 48, 3)
    assert (out["img"][40:, :] == 0).all() and (out["img"][:, 30:] == 0).all()
    assert (out["gt_seg_map"][40:, :] == UNLABELED_PAD).all()
    assert (out["gt_seg_map"][:40, :30] != UNLABELED_PAD).all()


@pytest.mark.parametrize("seed", range(5))
def test_strong_views_stay_pixel_aligned(seed):
    torch.manual_seed(seed)
    results = StrongViews(num_views=2).transform(_results())
    for view in results["strong_imgs"]:
        assert view.shape == results["img"].shape
        gray = view.astype(float).mean(-1)
        # the brightest pixel stays on the 3x3 dot (rows 10-12, cols 20-22): no shift
        y, x = np.unravel_index(gray.argmax(), gray.shape)
        assert 10 <= y <= 12 and 20 <= x <= 22, (y, x)


def test_strong_views_without_photometric_are_copies():
    results = StrongViews(num_views=1, photometric=False).transform(_results())
    np.testing.assert_array_equal(results["strong_imgs"][0], results["img"])


def test_pack_unlabeled_separates_hidden_gt_and_pad_mask():
    results = PadToCrop(48, seg_pad_val=UNLABELED_PAD).transform(_results())
    results["strong_imgs"] = []
    results["cutmix_boxes"] = np.zeros((0, 48, 48), np.uint8)
    packed = PackUnlabeledInputs().transform(results)
    assert set(packed) == {"inputs", "strong", "pad_mask", "cutmix_boxes", "hidden_gt",
                           "img_path"}
    assert packed["pad_mask"].sum() == 48 * 48 - 40 * 30
    assert (packed["hidden_gt"][packed["pad_mask"]] == IGNORE).all()
    assert (packed["hidden_gt"][10:13, 20:23] == 3).all()


def test_cutmix_box_follows_unimatch_rules():
    np.random.seed(0)
    boxes = [unimatch_cutmix_box(64) for _ in range(400)]
    empty = sum(b.sum() == 0 for b in boxes)
    assert 150 < empty < 250  # p = 0.5
    for box in boxes:
        if box.sum():
            ys, xs = np.nonzero(box)
            h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
            assert box.sum() == h * w  # one solid rectangle inside the crop
            assert box.sum() <= 0.4 * 64 * 64 + 1


def test_semi_batch_from_real_pipeline(tmp_path):
    cfg = build_run_config("meanteacher", tmp_path, **{
        "train_dataloader.dataset.num_strong_views": 2})
    from mmseg.registry import MODELS

    batch = real_batch(cfg, batch_size=3)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    data = preprocessor(batch, True)
    unlabeled = data["inputs"]["unlabeled"]
    assert data["inputs"]["labeled"].shape == (3, 3, 64, 64)
    assert unlabeled.weak.shape == (3, 3, 64, 64)
    assert len(unlabeled.strong) == 2 and unlabeled.strong[1].shape == (3, 3, 64, 64)
    assert unlabeled.cutmix_boxes.shape == (3, 2, 64, 64)
    assert unlabeled.pad_mask.dtype == torch.bool
    # the unlabeled branch carries no label field at all
    assert not any("gt" in name for name in vars(unlabeled))
    labels = torch.stack([s.gt_sem_seg.data[0] for s in data["data_samples"]["labeled"]])
    assert ((labels < num_classes()) | (labels == IGNORE)).all()
