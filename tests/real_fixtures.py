"""Tiny datasets in the exact on-disk layouts of the real protocols.

The image names come from the shipped split lists: a handful of the lists' own
labeled, unlabeled and validation entries are written as small images and labels, and
the run uses lists cut down to those entries (same line format, same paths).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.protocols import SPLIT_LIST_ROOT, get_protocol
from benchmark.splits import read_split_list

IMAGE_SIZE = (40, 48)  # h, w


def write_pair(root: Path, image: str, label: str, num_classes: int, seed: int) -> None:
    """Write one random image and label at the listed relative paths."""
    rng = np.random.default_rng(seed)
    h, w = IMAGE_SIZE
    (root / image).parent.mkdir(parents=True, exist_ok=True)
    (root / label).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / image)
    mask = rng.integers(0, num_classes, (h, w), dtype=np.uint8)
    mask[:2] = 255
    Image.fromarray(mask).save(root / label)


def real_fixture(root: Path, protocol_name: str, split: str, count: int = 4) -> Path:
    """Write ``count`` images per list of ``split`` (labeled, unlabeled, val) under ``root``.

    Returns:
        A folder to monkeypatch as ``benchmark.protocols.SPLIT_LIST_ROOT``, holding the
        cut-down lists ``<folder>/<split>/{labeled,unlabeled}.txt`` and ``<folder>/val.txt``.
    """
    protocol = get_protocol(protocol_name)
    shipped = SPLIT_LIST_ROOT / protocol.split_folder
    num_classes = 21 if protocol.dataset == "pascal" else 19
    lists = root / "lists" / protocol.split_folder
    for target in (f"{split}/labeled.txt", f"{split}/unlabeled.txt", "val.txt"):
        pairs = read_split_list(shipped / target)[:count]
        for number, (image, label) in enumerate(pairs):
            write_pair(root, image, label, num_classes, seed=zlib.crc32(image.encode()) + number)
        (lists / target).parent.mkdir(parents=True, exist_ok=True)
        (lists / target).write_text("".join(f"{i} {lb}\n" for i, lb in pairs))
    return lists.parent
