"""The folder protocol: a user's own images, label PNGs, class list and split lists.

Layout of the dataset root (``--data-root DIR``)::

    classes.txt               one class name per line; line i is label value i (255 = ignore)
    images/<id>.jpg|.png      the images
    labels/<id>.png           single-channel label PNGs with the same ids
    splits/val.txt            validation pairs ``images/<id>.jpg labels/<id>.png``
    splits/train.txt          training pool (written by ``draw_split`` when absent)
    splits/<name>/labeled.txt, unlabeled.txt   one partition each

Partitions are either written by the user or drawn once from a labeled fraction and a
seed (``python -m benchmark splits --protocol folder --data-root DIR --draw 1_8``) and
then stay fixed on disk. Before a run, :func:`check_pairs` reads every listed pair: the
loader would otherwise resize a label of another size to its image, and a label value
beyond the class list only fails in the loss, without a file name.
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.errors import BenchmarkError
from benchmark.splits import read_split_list

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IGNORE_VALUE = 255
# EXIF orientations the image loader (OpenCV) applies as a quarter turn: width <-> height.
QUARTER_TURNS = {5, 6, 7, 8}
EXIF_ORIENTATION = 0x0112


def read_classes(root: Path) -> tuple[str, ...]:
    """Class names from ``classes.txt`` (blank lines skipped).

    Raises:
        BenchmarkError: If the file is missing or lists fewer than two classes.
    """
    path = Path(root) / "classes.txt"
    if not path.is_file():
        raise BenchmarkError(f"{path} not found; write one class name per line (line i = "
                             "label value i, background first if you have one)")
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(names) < 2:
        raise BenchmarkError(f"{path} lists {len(names)} class(es); a segmentation task needs "
                             "at least two")
    return names


def labeled_pairs(root: Path) -> list[tuple[str, str]]:
    """Every ``(image, label)`` pair under ``images/`` that has a label PNG, sorted by id."""
    root = Path(root)
    pairs = []
    for image in sorted((root / "images").iterdir()):
        label = root / "labels" / f"{image.stem}.png"
        if image.suffix.lower() in IMAGE_SUFFIXES and label.is_file():
            pairs.append((f"images/{image.name}", f"labels/{label.name}"))
    return pairs


def split_fraction(name: str, fraction: float | None) -> float:
    """The labeled fraction: ``fraction`` if given, else read from a name like ``1_8``.

    Raises:
        BenchmarkError: If neither gives a fraction in (0, 1).
    """
    if fraction is None:
        try:
            numerator, denominator = (int(p) for p in name.split("_"))
            fraction = float(Fraction(numerator, denominator))
        except (ValueError, ZeroDivisionError):
            raise BenchmarkError(f"cannot read a fraction from split name '{name}'; pass "
                                 "--fraction F or name the split like 1_8") from None
    if not 0 < fraction < 1:
        raise BenchmarkError(f"labeled fraction must be in (0, 1), got {fraction}")
    return fraction


def draw_split(root: Path, name: str, fraction: float, seed: int) -> tuple[int, int]:
    """Draw partition ``name``: ``round(fraction * N)`` labeled images of the training pool.

    The pool is ``splits/train.txt``, written first (every labeled image not in
    ``splits/val.txt``) if it does not exist. An existing partition is never redrawn.

    Returns:
        ``(labeled, unlabeled)`` counts.

    Raises:
        BenchmarkError: If the partition exists, ``val.txt`` is missing or the pool is
            too small.
    """
    splits = Path(root) / "splits"
    target = splits / name
    if (target / "labeled.txt").exists():
        raise BenchmarkError(f"split {target} exists and stays fixed; choose another name or "
                             "delete the folder to redraw it")
    val = set(read_split_list(splits / "val.txt"))
    train_list = splits / "train.txt"
    if not train_list.is_file():
        pool = [pair for pair in labeled_pairs(root) if pair not in val]
        if not pool:
            raise BenchmarkError(f"no labeled image outside splits/val.txt under {root}; "
                                 "add images/ and labels/ with matching names")
        _write(train_list, pool)
    pool = read_split_list(train_list)
    count = round(fraction * len(pool))
    if not 1 <= count < len(pool):
        raise BenchmarkError(f"{fraction:g} of {len(pool)} training images leaves "
                             f"{count} labeled; choose a fraction that keeps both sides")
    chosen = set(random.Random(seed).sample(range(len(pool)), count))
    _write(target / "labeled.txt", [p for i, p in enumerate(pool) if i in chosen])
    _write(target / "unlabeled.txt", [p for i, p in enumerate(pool) if i not in chosen])
    return count, len(pool) - count


def check_pairs(root: Path, pairs: list[tuple[str, str]], list_name: str) -> None:
    """Check that each listed label fits its image and holds only known values.

    Every pair is read, none skipped. An image is opened only for its header (PIL reads
    the size, and the EXIF orientation the loader applies, without decoding pixels); a
    label PNG is decoded once and its values counted with PIL's C histogram. The cost is
    one label decode per pair, measured on one CPU core: about 1.7 ms for a 500x375
    (Pascal-sized) label and 10 ms for a 2048x1024 (Cityscapes-sized) one, so N pairs take
    about N x 2 ms (10 000 Pascal-sized pairs: some 20 s). Each list is checked once per
    process (the caller caches it).

    Args:
        root: Dataset root (holds ``classes.txt``).
        pairs: ``(image, label)`` paths relative to ``root``, as listed.
        list_name: Name of the list, for the message.

    Raises:
        BenchmarkError: One line naming the first unreadable file, label of another size
            than its image, or label with a value that is neither a class index of
            ``classes.txt`` nor 255, with the count of such pairs in the list.
    """
    root = Path(root)
    num_classes = len(read_classes(root))
    unreadable, resized, channels, unknown = [], [], [], []
    for image, label in pairs:
        try:
            image_size = _loaded_size(root / image)
        except OSError as err:
            unreadable.append(f"{image} ({type(err).__name__})")
            continue
        try:
            with Image.open(root / label) as picture:
                label_size, values = picture.size, _label_values(picture)
        except OSError as err:
            unreadable.append(f"{label} ({type(err).__name__})")
            continue
        if values is None:
            channels.append(f"{label} (mode {picture.mode})")
        elif label_size != image_size:
            resized.append(f"{label} is {_wh(label_size)}, {image} is {_wh(image_size)}")
        elif bad := [v for v in values if num_classes <= v != IGNORE_VALUE]:
            unknown.append(f"{label} holds {', '.join(str(v) for v in bad[:5])}")
    count = len(pairs)
    if unreadable:
        raise BenchmarkError(
            f"{len(unreadable)} of {count} pairs listed in {list_name} have a file PIL cannot "
            f"read as an image (first: {unreadable[0]}); list only .jpg/.png images and "
            "label PNGs")
    if channels:
        raise BenchmarkError(
            f"{len(channels)} of {count} labels listed in {list_name} are not single-channel "
            f"(first: {channels[0]}); a label PNG holds one value per pixel, value i = line "
            "i of classes.txt")
    if resized:
        raise BenchmarkError(
            f"{len(resized)} of {count} labels listed in {list_name} differ in size from "
            f"their image (first: {resized[0]}, width x height); a label must have its "
            "image's size")
    if unknown:
        raise BenchmarkError(
            f"{len(unknown)} of {count} labels listed in {list_name} hold values outside "
            f"the {num_classes} classes of classes.txt (0-{num_classes - 1}) and 255 = "
            f"ignore (first: {unknown[0]}); add the classes to classes.txt or fix the labels")


def _loaded_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image as the loader returns it (EXIF turns applied)."""
    with Image.open(path) as picture:
        width, height = picture.size
        turned = picture.getexif().get(EXIF_ORIENTATION) in QUARTER_TURNS
    return (height, width) if turned else (width, height)


def _label_values(picture: Image.Image) -> list[int] | None:
    """The values present in a label image, ascending; None if it has several channels."""
    if picture.mode in ("L", "P"):
        return [value for value, n in enumerate(picture.histogram()) if n]
    pixels = np.asarray(picture)
    if pixels.ndim != 2:
        return None
    return [int(v) for v in np.unique(pixels)]


def _wh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _write(path: Path, pairs: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{image} {label}\n" for image, label in pairs))
