"""Writing the synthetic dataset to disk in Pascal VOC layout, with a fingerprint cache.

Layout under the root folder::

    JPEGImages/<id>.jpg            RGB images (JPEG, per-image quality)
    SegmentationClass/<id>.png     palette PNG labels, values 0..K and 255 (ignore)
    splits/train.txt               every training image
    splits/val.txt                 every validation image
    splits/1_<k>/labeled.txt       first round(N / k) ids of a seeded permutation of train
    splits/1_<k>/unlabeled.txt     the rest of train
    meta.json                      spec, fingerprint, classes, palette, statistics

Split lines use the UniMatch format ``JPEGImages/<id>.jpg SegmentationClass/<id>.png``.
Labeled sets are nested across ``k`` (1_16 in 1_8 in 1_4 in 1_2). The folder is built
in a temporary sibling and renamed into place, so readers never see a partial dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
from PIL import Image

from ..errors import BenchmarkError
from .scene import draw_scene
from .spec import GENERATOR_VERSION, IGNORE_INDEX, SyntheticSpec, voc_colormap

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each written image."""

META_FILE = "meta.json"
IMAGE_DIR = "JPEGImages"
LABEL_DIR = "SegmentationClass"
SPLIT_DIR = "splits"
ABANDONED_AFTER_SECONDS = 24 * 3600

# Entropy streams under the root seed, so each split is independent of the others.
_STREAMS = {"train": 0, "val": 1, "partition": 2}


def default_root(spec: SyntheticSpec = SyntheticSpec()) -> Path:
    """Folder of the dataset for ``spec`` under the user's data cache.

    Args:
        spec: Dataset parameters.

    Returns:
        ``$SEMISEG_DATA/synthetic-<fp8>``, or ``~/.cache/semiseg-bench/data/synthetic-<fp8>``
        when ``SEMISEG_DATA`` is unset, where ``fp8`` is the fingerprint's first 8 digits.
    """
    base = os.environ.get("SEMISEG_DATA")
    parent = Path(base) if base else Path.home() / ".cache" / "semiseg-bench" / "data"
    return parent.expanduser() / f"synthetic-{spec.fingerprint()[:8]}"


def is_materialized(root: Path, spec: SyntheticSpec = SyntheticSpec()) -> bool:
    """Whether ``root`` holds a complete dataset generated from ``spec``."""
    try:
        meta = json.loads((Path(root) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("fingerprint") == spec.fingerprint()


def materialize(
    root: Path,
    spec: SyntheticSpec = SyntheticSpec(),
    progress: Optional[ProgressFn] = None,
) -> Path:
    """Ensure ``root`` holds the dataset of ``spec``; generate it only if missing or stale.

    Safe under interruption and concurrency: generation writes a temporary sibling
    folder and renames it into place; if another process installs the same dataset
    first, that one is kept. A dataset with a different fingerprint is replaced.

    Args:
        root: Dataset folder.
        spec: Dataset parameters.
        progress: Optional callback ``progress(done, total)``.

    Returns:
        ``root``.

    Raises:
        BenchmarkError: ``root`` exists and is neither empty nor a synthetic dataset.
    """
    root = Path(root).expanduser()
    if is_materialized(root, spec):
        return root
    if root.exists() and not _is_replaceable(root):
        raise BenchmarkError(f"{root} exists and is not a synthetic dataset; choose another folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(root)
    tmp = root.parent / f".{root.name}.tmp-{uuid.uuid4().hex}"
    try:
        _write_dataset(tmp, spec, progress)
        _install(tmp, root, spec)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _install(tmp: Path, root: Path, spec: SyntheticSpec) -> None:
    """Atomically rename ``tmp`` to ``root``, moving a stale ``root`` out of the way."""
    for _ in range(10):
        if is_materialized(root, spec):
            return  # another process won the race
        if root.exists():
            if not _is_replaceable(root):
                raise BenchmarkError(
                    f"{root} exists and is not a synthetic dataset; choose another folder"
                )
            stale = root.parent / f".{root.name}.stale-{uuid.uuid4().hex}"
            try:
                os.rename(root, stale)
            except FileNotFoundError:
                continue  # someone else moved it; look again
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, root)
            return
        except OSError:
            continue  # root reappeared (concurrent install); look again
    raise RuntimeError(f"could not install the synthetic dataset at {root}")


def _remove_abandoned(root: Path) -> None:
    """Delete temporary siblings of ``root`` left by generations killed long ago."""
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    for pattern in (f".{root.name}.tmp-*", f".{root.name}.stale-*"):
        for path in root.parent.glob(pattern):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass


def _is_replaceable(root: Path) -> bool:
    """Whether ``root`` is an empty folder or a dataset written by this module."""
    if root.is_dir() and not any(root.iterdir()):
        return True
    try:
        meta = json.loads((root / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "fingerprint" in meta and "generator_version" in meta


def image_id(split: str, index: int) -> str:
    """File stem of image ``index`` of ``split`` (``'train'`` or ``'val'``)."""
    return f"{split}_{index:06d}"


def image_rng(spec: SyntheticSpec, split: str, index: int) -> np.random.Generator:
    """Generator of image ``index`` of ``split``: a pure function of (seed, split, index)."""
    sequence = np.random.SeedSequence(spec.seed, spawn_key=(_STREAMS[split], index))
    return np.random.default_rng(sequence)


def labeled_partitions(spec: SyntheticSpec) -> Dict[str, List[str]]:
    """Labeled training ids of every ``1_k`` split, nested, each sorted.

    The labeled set of ``1_k`` is the first ``max(1, round(N / k))`` ids of one seeded
    permutation of the training ids, so smaller sets are subsets of larger ones.

    Args:
        spec: Dataset parameters.

    Returns:
        Split name to sorted list of labeled ids.
    """
    sequence = np.random.SeedSequence(spec.seed, spawn_key=(_STREAMS["partition"],))
    order = np.random.default_rng(sequence).permutation(spec.num_train)
    partitions = {}
    for name, k in zip(spec.split_names, spec.split_denominators):
        count = min(spec.num_train, max(1, round(spec.num_train / k)))
        partitions[name] = sorted(image_id("train", int(i)) for i in order[:count])
    return partitions


def _write_dataset(folder: Path, spec: SyntheticSpec, progress: Optional[ProgressFn]) -> None:
    """Write every file of the dataset into ``folder``; ``meta.json`` goes last."""
    (folder / IMAGE_DIR).mkdir(parents=True)
    (folder / LABEL_DIR).mkdir()
    palette = [channel for colour in voc_colormap() for channel in colour]
    pixel_counts = np.zeros(256, dtype=np.int64)
    total = spec.num_train + spec.num_val
    done = 0
    for split, count in (("train", spec.num_train), ("val", spec.num_val)):
        for index in range(count):
            scene = draw_scene(image_rng(spec, split, index), spec)
            stem = image_id(split, index)
            Image.fromarray(scene.image).save(
                folder / IMAGE_DIR / f"{stem}.jpg", quality=scene.jpeg_quality
            )
            label = Image.fromarray(scene.label)
            label.putpalette(palette)
            label.save(folder / LABEL_DIR / f"{stem}.png")
            if split == "train":
                pixel_counts += np.bincount(scene.label.ravel(), minlength=256)
            done += 1
            if progress is not None:
                progress(done, total)
    partitions = labeled_partitions(spec)
    _write_splits(folder, spec)
    _write_meta(folder, spec, pixel_counts, partitions)


def _split_line(stem: str) -> str:
    return f"{IMAGE_DIR}/{stem}.jpg {LABEL_DIR}/{stem}.png\n"


def split_list_texts(spec: SyntheticSpec) -> Dict[str, str]:
    """The text of every split list the generator writes, by path relative to ``splits/``.

    ``train.txt``, ``val.txt`` and ``1_<k>/labeled.txt`` / ``1_<k>/unlabeled.txt``: the
    reference an on-disk list is compared with to tell an edited list.
    """
    train_ids = [image_id("train", i) for i in range(spec.num_train)]
    lists = {"train.txt": train_ids,
             "val.txt": [image_id("val", i) for i in range(spec.num_val)]}
    for name, labeled in labeled_partitions(spec).items():
        labeled_set = set(labeled)
        lists[f"{name}/labeled.txt"] = labeled
        lists[f"{name}/unlabeled.txt"] = [s for s in train_ids if s not in labeled_set]
    return {name: "".join(_split_line(s) for s in stems) for name, stems in lists.items()}


def _write_splits(folder, spec: SyntheticSpec) -> None:
    """Write ``train.txt``, ``val.txt`` and the labeled/unlabeled lists of every split."""
    for name, text in split_list_texts(spec).items():
        path = folder / SPLIT_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _write_meta(folder, spec: SyntheticSpec, pixel_counts: np.ndarray, partitions) -> None:
    """Write ``meta.json``: spec, fingerprint, classes, palette, statistics and counts."""
    class_counts = pixel_counts[: spec.num_classes]
    total_pixels = int(pixel_counts.sum())
    meta = {
        "fingerprint": spec.fingerprint(),
        "generator_version": GENERATOR_VERSION,
        "spec": spec.to_dict(),
        "class_names": list(spec.class_names),
        "palette": [list(colour) for colour in spec.palette],
        "ignore_index": IGNORE_INDEX,
        "train_pixel_frequency": {
            "note": "fraction of non-ignored train label pixels per class",
            "per_class": (class_counts / max(int(class_counts.sum()), 1)).tolist(),
            "ignore_fraction": float(pixel_counts[IGNORE_INDEX]) / max(total_pixels, 1),
        },
        "counts": {
            "train": spec.num_train,
            "val": spec.num_val,
            "splits": {
                name: {"labeled": len(ids), "unlabeled": spec.num_train - len(ids)}
                for name, ids in partitions.items()
            },
        },
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
