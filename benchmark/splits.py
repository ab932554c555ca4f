"""Reading and validating split lists.

Split lists use UniMatch's line format: ``<image path> <label path>`` relative to the
dataset root, one pair per line (e.g. ``JPEGImages/x.jpg SegmentationClass/x.png``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchmarkError


@dataclass(frozen=True)
class SplitFiles:
    """The list files of one partition.

    Attributes:
        name: Partition name, e.g. ``"1_8"`` or ``"full"``.
        labeled: Lists of labeled training pairs (concatenated).
        unlabeled: List of unlabeled training pairs; None when every image is labeled.
        val: List of validation pairs.
    """

    name: str
    labeled: tuple[Path, ...]
    unlabeled: Path | None
    val: Path


def read_split_list(path: Path) -> list[tuple[str, str]]:
    """Parse a split list into ``(image, label)`` relative paths.

    Args:
        path: The list file.

    Returns:
        The pairs in file order.

    Raises:
        BenchmarkError: If the file is missing, empty or a line is malformed.
    """
    if not path.is_file():
        raise BenchmarkError(f"split list {path} does not exist; check the protocol's split folder")
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise BenchmarkError(
                f"malformed split list {path}, line {number}: expected '<image> <label>', "
                f"got {line.strip()!r}; fix or regenerate the file"
            )
        pairs.append((fields[0], fields[1]))
    if not pairs:
        raise BenchmarkError(f"split list {path} is empty; regenerate the file")
    return pairs


def checksum_status(paths: tuple[Path, ...], list_root: Path) -> str:
    """Whether shipped lists match ``MANIFEST.json`` under ``list_root``.

    Args:
        paths: The list files of one partition.
        list_root: Folder of the shipped lists and their ``MANIFEST.json``.

    Returns:
        ``"valid"`` when every file's SHA-256 matches its manifest entry, ``"MODIFIED"``
        when one differs, ``"not in manifest"`` for files the manifest does not list (or
        when ``list_root`` has no manifest, e.g. lists a user wrote).
    """
    import hashlib
    import json

    manifest_path = list_root / "MANIFEST.json"
    if not manifest_path.is_file():
        return "not in manifest"
    manifest = json.loads(manifest_path.read_text())
    status = "valid"
    for path in paths:
        try:
            entry = manifest[path.relative_to(list_root).as_posix()]
        except (KeyError, ValueError):
            return "not in manifest"
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            status = "MODIFIED"
    return status
