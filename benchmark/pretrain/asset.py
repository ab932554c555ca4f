"""The built-in backbone as a versioned file shipped with the package.

``assets/<name>.pth`` holds the backbone ``state_dict`` every built-in run starts from;
``assets/<name>.json`` is its manifest: SHA-256, size, the fingerprint of the recipe,
pretraining data and network it was trained with, the recipe itself and how, where and
when it was made. The file is loaded as it is on every machine, so the config hash (which
holds its SHA-256) is the same everywhere; rebuilding it from the recipe gives other bytes
on other CPU types (float rounding differs between CPU kernels), which is why it ships.

:func:`weight_difference` tells by how much two backbones differ, for the
``pretrain --rebuild`` report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.atomic_io import write_text_atomic
from benchmark.errors import BenchmarkError

ASSET_DIR = Path(__file__).with_name("assets")
ASSET_NAME = "builtin_backbone_v1"


@dataclass(frozen=True)
class PretrainedBackbone:
    """A verified backbone checkpoint.

    Attributes:
        path: The ``.pth`` file (``{'state_dict': backbone weights, 'meta': ...}``).
        sha256: Hex SHA-256 of the file.
        meta: How it was made (recipe, data set, provenance); ``meta['shipped']`` is True
            for the shipped asset.
    """

    path: Path
    sha256: str
    meta: dict


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def asset_paths(folder: Path | None = None, name: str = ASSET_NAME) -> tuple[Path, Path]:
    """``(checkpoint, manifest)`` of the shipped asset."""
    folder = ASSET_DIR if folder is None else Path(folder)
    return folder / f"{name}.pth", folder / f"{name}.json"


def read_manifest(folder: Path | None = None) -> dict:
    """The shipped asset's manifest.

    Raises:
        BenchmarkError: If the manifest is missing or unreadable (one line naming the fix).
    """
    _, manifest = asset_paths(folder)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not {"sha256", "fingerprint"} <= data.keys():
            raise ValueError("sha256 or fingerprint missing")
        return data
    except (OSError, ValueError) as err:
        raise BenchmarkError(
            f"the built-in backbone's manifest {manifest} is missing or unreadable ({err}); "
            "restore it (git checkout benchmark/pretrain/assets, or reinstall the package)"
        ) from err


def shipped_backbone(key: str, folder: Path | None = None) -> PretrainedBackbone | None:
    """The shipped backbone if its fingerprint is ``key``, verified by its checksum.

    Args:
        key: Fingerprint of the wanted recipe, pretraining data and network.
        folder: Asset folder (default: the package's ``assets/``).

    Returns:
        The asset, or None when it was made for another fingerprint (the caller builds).

    Raises:
        BenchmarkError: If the manifest, or the file it names, is missing or corrupt.
    """
    manifest = read_manifest(folder)
    if manifest["fingerprint"] != key:
        return None
    path, _ = asset_paths(folder)
    if not path.is_file():
        raise BenchmarkError(
            f"the built-in backbone {path} is missing; restore it (git checkout "
            "benchmark/pretrain/assets, or reinstall the package)")
    found = file_sha256(path)
    if found != manifest["sha256"]:
        raise BenchmarkError(
            f"the built-in backbone {path} is corrupt (SHA-256 {found[:12]}..., manifest "
            f"{manifest['sha256'][:12]}...); restore it with git checkout "
            "benchmark/pretrain/assets (or reinstall the package)")
    return PretrainedBackbone(path=path, sha256=found, meta={**manifest, "shipped": True})


def install_asset(checkpoint: Path, meta: dict, provenance: dict,
                  folder: Path | None = None) -> PretrainedBackbone:
    """Make ``checkpoint`` the shipped asset (maintainers: after a recipe change).

    Args:
        checkpoint: A backbone built by :func:`benchmark.pretrain.backbone.build_cached`.
        meta: Its build metadata (recipe, fingerprint, data, network).
        provenance: Where and how it was made (machine, versions, commit).
        folder: Asset folder (default: the package's ``assets/``).
    """
    path, manifest = asset_paths(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = Path(checkpoint).read_bytes()
    tmp = path.with_suffix(".pth.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    entry = {key: value for key, value in meta.items()
             if key not in ("shipped", "pretraining_data")}
    entry["pretraining_data"] = {k: v for k, v in meta["pretraining_data"].items() if k != "root"}
    entry.update(name=ASSET_NAME, sha256=file_sha256(path), size_bytes=len(data),
                 provenance=provenance)
    write_text_atomic(manifest, json.dumps(entry, indent=2, sort_keys=True) + "\n")
    return PretrainedBackbone(path=path, sha256=entry["sha256"], meta={**entry, "shipped": True})


def weight_difference(reference: Path, other: Path) -> dict:
    """How far the backbone weights in ``other`` are from ``reference``.

    Returns:
        ``{'tensors', 'tensors_differing', 'max_abs', 'relative_l2'}``: floating-point
        tensors compared, how many differ at all, the largest absolute difference and
        ``||other - reference|| / ||reference||`` over all of them.

    Raises:
        BenchmarkError: If the two files do not hold the same keys and shapes.
    """
    a = torch.load(reference, map_location="cpu", weights_only=True)["state_dict"]
    b = torch.load(other, map_location="cpu", weights_only=True)["state_dict"]
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise BenchmarkError(f"{other} and {reference} are backbones of different networks")
    keys = [k for k in a if a[k].is_floating_point()]
    diff_sq = sum(float(((b[k].double() - a[k].double()) ** 2).sum()) for k in keys)
    ref_sq = sum(float((a[k].double() ** 2).sum()) for k in keys)
    return {
        "tensors": len(keys),
        "tensors_differing": sum(not torch.equal(a[k], b[k]) for k in keys),
        "max_abs": max((float((b[k] - a[k]).abs().max()) for k in keys if a[k].numel()),
                       default=0.0),
        "relative_l2": (diff_sq / ref_sq) ** 0.5 if ref_sq else 0.0,
    }
