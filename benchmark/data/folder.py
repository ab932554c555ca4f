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
then stay fixed on disk.
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.splits import read_split_list

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


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


def _write(path: Path, pairs: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{image} {label}\n" for image, label in pairs))
