"""Tests of the built-in synthetic dataset: determinism, layout, labels, cache, long tail."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import BenchmarkError
from benchmark.synthetic import (
    IGNORE_INDEX,
    SyntheticSpec,
    default_root,
    draw_scene,
    image_rng,
    is_materialized,
    materialize,
    voc_colormap,
)

# The package exports a function of the same name, so fetch the module itself.
materialize_module = importlib.import_module("benchmark.synthetic.materialize")
SMALL = SyntheticSpec(num_train=40, num_val=10)
LINE = re.compile(r"^JPEGImages/(\w+)\.jpg SegmentationClass/(\w+)\.png$")


@pytest.fixture(scope="module")
def small_root(tmp_path_factory) -> Path:
    return materialize(tmp_path_factory.mktemp("synthetic") / "data", SMALL)


def read_split(path: Path) -> List[str]:
    """Ids of a split list, checking every line's format."""
    ids = []
    for line in path.read_text().splitlines():
        match = LINE.match(line)
        assert match, f"malformed line {line!r} in {path}"
        assert match.group(1) == match.group(2)
        ids.append(match.group(1))
    return ids


def all_files(root: Path) -> Dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_materialisations_are_byte_identical(small_root, tmp_path):
    other = materialize(tmp_path / "again", SMALL)
    first, second = all_files(small_root), all_files(other)
    assert first.keys() == second.keys()
    for name, path in first.items():
        if name.endswith((".png", ".txt", ".jpg")):
            assert path.read_bytes() == second[name].read_bytes(), name


def test_image_depends_only_on_seed_split_and_index(small_root, tmp_path):
    fewer = materialize(tmp_path / "fewer", dataclasses.replace(SMALL, num_train=7))
    for stem in ("train_000000", "train_000006", "val_000003"):
        for sub, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png")):
            name = f"{sub}/{stem}.{ext}"
            assert (small_root / name).read_bytes() == (fewer / name).read_bytes()
    # Drawing out of order gives the same scene.
    late = draw_scene(image_rng(SMALL, "train", 5), SMALL)
    _ = draw_scene(image_rng(SMALL, "train", 4), SMALL)
    again = draw_scene(image_rng(SMALL, "train", 5), SMALL)
    np.testing.assert_array_equal(late.image, again.image)
    np.testing.assert_array_equal(late.label, again.label)


def test_splits_and_seeds_give_different_images():
    train = draw_scene(image_rng(SMALL, "train", 0), SMALL)
    val = draw_scene(image_rng(SMALL, "val", 0), SMALL)
    reseeded_spec = dataclasses.replace(SMALL, seed=1)
    reseeded = draw_scene(image_rng(reseeded_spec, "train", 0), reseeded_spec)
    assert not np.array_equal(train.image, val.image)
    assert not np.array_equal(train.image, reseeded.image)


def test_layout_and_partitions(small_root):
    train = read_split(small_root / "splits/train.txt")
    val = read_split(small_root / "splits/val.txt")
    assert len(train) == len(set(train)) == SMALL.num_train
    assert len(val) == len(set(val)) == SMALL.num_val
    assert not set(train) & set(val)
    for stem in train + val:
        assert (small_root / "JPEGImages" / f"{stem}.jpg").is_file()
        assert (small_root / "SegmentationClass" / f"{stem}.png").is_file()
    previous: set = set()
    expected_sizes = {"1_16": 2, "1_8": 5, "1_4": 10, "1_2": 20}  # round(40 / k)
    for name in ("1_16", "1_8", "1_4", "1_2"):
        labeled = read_split(small_root / "splits" / name / "labeled.txt")
        unlabeled = read_split(small_root / "splits" / name / "unlabeled.txt")
        assert len(labeled) == expected_sizes[name]
        assert not set(labeled) & set(unlabeled)
        assert sorted(labeled + unlabeled) == sorted(train)
        assert previous <= set(labeled), f"{name} does not contain the smaller split"
        previous = set(labeled)
    meta = json.loads((small_root / "meta.json").read_text())
    assert meta["fingerprint"] == SMALL.fingerprint()
    assert meta["class_names"] == list(SMALL.class_names)
    assert meta["counts"]["splits"]["1_8"] == {"labeled": 5, "unlabeled": 35}
    assert meta["spec"] == SMALL.to_dict()


def test_images_and_labels_are_voc_style(small_root):
    image = Image.open(small_root / "JPEGImages/train_000000.jpg")
    assert image.format == "JPEG" and image.mode == "RGB" and image.size == (64, 64)
    allowed = set(range(SMALL.num_classes)) | {IGNORE_INDEX}
    seen = set()
    for path in sorted((small_root / "SegmentationClass").glob("*.png")):
        label = Image.open(path)
        assert label.mode == "P" and label.size == (64, 64)
        assert label.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
        values = set(np.unique(np.asarray(label)).tolist())
        assert values <= allowed
        seen |= values
    assert seen == allowed, "a small sample should still contain every class"
    assert voc_colormap()[IGNORE_INDEX] == (224, 224, 192)


def test_ignore_band_separates_every_object_boundary(small_root):
    ignored = 0
    for path in sorted((small_root / "SegmentationClass").glob("*.png")):
        label = np.asarray(Image.open(path))
        for a, b in ((label[1:], label[:-1]), (label[:, 1:], label[:, :-1])):
            touching = (a != b) & (a != IGNORE_INDEX) & (b != IGNORE_INDEX)
            assert not touching.any(), f"two classes touch without ignore band in {path.name}"
        ignored += int((label == IGNORE_INDEX).sum())
    fraction = ignored / (50 * 64 * 64)
    assert 0.01 < fraction < 0.12


def test_no_ignore_band_when_disabled():
    spec = dataclasses.replace(SMALL, ignore_border_width=0.0)
    labels = [draw_scene(image_rng(spec, "train", i), spec).label for i in range(10)]
    assert not any((label == IGNORE_INDEX).any() for label in labels)
    assert any((label > 0).any() for label in labels)


def test_cache_hit_rewrites_nothing(small_root, monkeypatch):
    mtimes = {name: p.stat().st_mtime_ns for name, p in all_files(small_root).items()}

    def fail(*args, **kwargs):
        raise AssertionError("cache hit must not draw scenes")

    monkeypatch.setattr(materialize_module, "draw_scene", fail)
    assert materialize(small_root, SMALL) == small_root
    assert {n: p.stat().st_mtime_ns for n, p in all_files(small_root).items()} == mtimes


def test_fingerprint_change_regenerates_in_place(tmp_path):
    root = materialize(tmp_path / "data", SMALL)
    old_label = (root / "SegmentationClass/train_000000.png").read_bytes()
    changed = dataclasses.replace(SMALL, seed=1, num_train=20)
    assert not is_materialized(root, changed)
    materialize(root, changed)
    assert is_materialized(root, changed) and not is_materialized(root, SMALL)
    assert (root / "SegmentationClass/train_000000.png").read_bytes() != old_label
    assert not (root / "SegmentationClass/train_000039.png").exists(), "stale files kept"
    assert [p.name for p in tmp_path.iterdir()] == ["data"], "temporary folders left behind"


def test_concurrent_winner_is_kept(tmp_path, monkeypatch):
    root = tmp_path / "data"
    real_write = materialize_module._write_dataset
    winner_inode = []

    def write_while_another_process_finishes(folder, spec, progress):
        if not winner_inode:
            winner_inode.append(None)
            materialize(root, spec)  # the "other process" installs first
            winner_inode[0] = (root / "meta.json").stat().st_ino
        real_write(folder, spec, progress)

    monkeypatch.setattr(materialize_module, "_write_dataset", write_while_another_process_finishes)
    assert materialize(root, SMALL) == root
    assert is_materialized(root, SMALL)
    assert (root / "meta.json").stat().st_ino == winner_inode[0], "the winner was replaced"
    assert [p.name for p in tmp_path.iterdir()] == ["data"], "temporary folder left behind"


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    root = tmp_path / "precious"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    with pytest.raises(BenchmarkError):
        materialize(root, SMALL)
    assert (root / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["precious"]


def test_progress_reports_every_image(tmp_path):
    reports = []
    spec = dataclasses.replace(SMALL, num_train=5, num_val=2)
    materialize(tmp_path / "data", spec, progress=lambda done, total: reports.append((done, total)))
    assert reports == [(i, 7) for i in range(1, 8)]


def test_class_frequencies_follow_the_configured_long_tail(tmp_path):
    spec = SyntheticSpec(num_train=200, num_val=0)
    root = materialize(tmp_path / "data", spec)
    meta = json.loads((root / "meta.json").read_text())
    freq = np.asarray(meta["train_pixel_frequency"]["per_class"])
    assert freq.shape == (spec.num_classes,)
    assert freq.sum() == pytest.approx(1.0)
    assert freq[0] == freq.max() and 0.6 < freq[0] < 0.9
    # Expected adjacent ratio r ** (1 / (k - 1)); sampling noise on 200 images is ~20%.
    objects = freq[1:]
    ratio = spec.class_frequency_ratio
    adjacent = ratio ** (1 / (len(objects) - 1))
    assert np.all(objects[:-1] > (1 + 0.5 * (adjacent - 1)) * objects[1:]), objects
    assert 0.6 * ratio < objects[0] / objects[-1] < 1.6 * ratio
    share = objects / objects.sum()
    np.testing.assert_allclose(share, spec.object_class_probabilities, rtol=0.3)


def test_default_root_uses_env_or_home(monkeypatch, tmp_path):
    fp8 = SMALL.fingerprint()[:8]
    monkeypatch.setenv("SEMISEG_DATA", str(tmp_path / "store"))
    assert default_root(SMALL) == tmp_path / "store" / f"synthetic-{fp8}"
    monkeypatch.delenv("SEMISEG_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home/.cache/semiseg-bench/data" / f"synthetic-{fp8}"
    assert default_root(SMALL) == expected


def test_fingerprint_covers_every_knob():
    base = SyntheticSpec()
    assert base.fingerprint() == SyntheticSpec().fingerprint()
    changed = {
        "image_size": 32,
        "seed": 3,
        "class_frequency_ratio": 6.0,
        "object_radius": (5.0, 15.0),
        "jpeg_quality": (90, 95),
        "split_denominators": (8, 4),
    }
    prints = {dataclasses.replace(base, **{k: v}).fingerprint() for k, v in changed.items()}
    assert len(prints) == len(changed) and base.fingerprint() not in prints


def test_spec_classes_and_validation():
    spec = SyntheticSpec()
    assert spec.num_classes == 4 and spec.class_names[0] == "background"
    assert len(set(spec.class_names)) == 4 and len(spec.palette) == 4
    probabilities = spec.object_class_probabilities
    assert sum(probabilities) == pytest.approx(1.0)
    assert probabilities[0] / probabilities[-1] == pytest.approx(spec.class_frequency_ratio)
    shapes = {shape for shape, _ in spec.object_classes}
    textures = {texture for _, texture in spec.object_classes}
    assert len(shapes) > 1 and len(textures) > 1
    # object-shaped distractors wear textures no class uses, and blobs wear class textures:
    # telling objects from clutter needs both shape and texture
    assert set(spec.clutter_shape_textures).isdisjoint(textures)
    with pytest.raises(ValueError):
        SyntheticSpec(object_classes=(("blob", "stripes"),))
    with pytest.raises(ValueError):
        SyntheticSpec(object_classes=(("circle", "stripes"), ("circle", "stripes")))


def test_abandoned_temporary_folders_are_cleaned(tmp_path):
    old = tmp_path / ".data.tmp-killed"
    fresh = tmp_path / ".data.tmp-running"
    for folder in (old, fresh):
        folder.mkdir()
    ancient = 1_000_000_000
    os.utime(old, (ancient, ancient))
    materialize(tmp_path / "data", dataclasses.replace(SMALL, num_train=3, num_val=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".data.tmp-running", "data"]
