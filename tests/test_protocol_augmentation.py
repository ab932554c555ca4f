"""The protocol's strong augmentation settings reach every strong-view step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.data.transforms import StrongViews
from benchmark.runs.protocol_settings import strong_blur_sigma
from tests.conftest import build_run_config


def test_blur_sigma_scales_with_the_crop_relative_to_the_reference_crop():
    papers = dict(blur_sigma=(0.1, 2.0), reference_crop=321)
    assert strong_blur_sigma(papers, 64) == (round(0.1 * 64 / 321, 4), round(2.0 * 64 / 321, 4))
    assert strong_blur_sigma(papers, 321) == (0.1, 2.0)
    assert strong_blur_sigma(dict(blur_sigma=(0.1, 2.0), reference_crop=None), 64) == (0.1, 2.0)


def _strong_nodes(cfg):
    pipeline = cfg.train_dataloader.dataset.unlabeled.pipeline
    views = [step for step in pipeline if step["type"] == "StrongViews"]
    boxes = [step for step in pipeline if step["type"] == "CutMixBoxes"]
    return views, boxes


def test_strong_aug_options_are_written_into_the_pipeline(tmp_path):
    cfg = build_run_config("unimatch", tmp_path, **{
        "strong_aug.reference_crop": 321, "strong_aug.blur_p": 0.0,
        "strong_aug.grayscale_p": 0.1, "strong_aug.cutmix_p": 0.25})
    (views,), (boxes,) = _strong_nodes(cfg)
    assert views["blur_sigma"] == strong_blur_sigma(cfg.strong_aug, 64)
    assert views["blur_p"] == 0.0 and views["grayscale_p"] == 0.1 and views["jitter_p"] == 0.8
    assert boxes["p"] == 0.25


def test_strong_aug_reaches_a_method_that_augments_inside_the_model(tmp_path):
    cfg = build_run_config("upc", tmp_path, **{"strong_aug.reference_crop": 321})
    assert cfg.model.blur_sigma == strong_blur_sigma(cfg.strong_aug, 64)


def test_the_default_keeps_the_papers_recipe(tmp_path):
    cfg = build_run_config("fixmatch", tmp_path)
    (views,), (boxes,) = _strong_nodes(cfg)
    assert views["blur_sigma"] == (0.1, 2.0)
    assert (views["jitter_p"], views["grayscale_p"], views["blur_p"], boxes["p"]) == (
        0.8, 0.2, 0.5, 0.5)


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)


def test_strong_views_without_any_component_are_copies_of_the_weak_crop():
    views = StrongViews(num_views=2, blur_kernel=7, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
    image = _image()
    out = views.transform({"img": image})["strong_imgs"]
    assert len(out) == 2 and all(np.array_equal(view, image) for view in out)


def test_strong_views_grayscale_always_gives_equal_channels_and_blur_smooths():
    torch.manual_seed(0)
    gray = StrongViews(num_views=1, blur_kernel=7, jitter_p=0.0, grayscale_p=1.0, blur_p=0.0)
    view = gray.transform({"img": _image()})["strong_imgs"][0]
    assert np.array_equal(view[..., 0], view[..., 1]) and np.array_equal(view[..., 1],
                                                                         view[..., 2])
    blur = StrongViews(num_views=1, blur_kernel=7, jitter_p=0.0, grayscale_p=0.0, blur_p=1.0,
                       blur_sigma=(1.5, 1.5))
    image = _image(1)
    blurred = blur.transform({"img": image})["strong_imgs"][0].astype(float)
    # a sigma-1.5 blur of uniform noise lowers its pixel-to-pixel differences
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.5 * np.abs(
        np.diff(image.astype(float), axis=1)).mean()


@pytest.mark.parametrize("sigma", [(0.02, 0.02)])
def test_a_tiny_blur_sigma_leaves_the_image_almost_unchanged(sigma):
    blur = StrongViews(num_views=1, blur_kernel=7, jitter_p=0.0, grayscale_p=0.0, blur_p=1.0,
                       blur_sigma=sigma)
    image = _image(2)
    out = blur.transform({"img": image})["strong_imgs"][0]
    assert np.abs(out.astype(int) - image.astype(int)).max() <= 1
