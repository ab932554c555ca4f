"""Facts about the software stack and the device, recorded with every run."""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
from pathlib import Path

from benchmark.paths import PACKAGE_ROOT

PACKAGES = ("torch", "torchvision", "mmcv", "mmengine", "mmseg", "timm", "numpy")


def package_versions() -> dict[str, str]:
    """Return ``{package: version}``; a missing package maps to ``"missing"``."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.import_module(name).__version__
        except Exception:  # noqa: BLE001 - any import failure means unusable
            versions[name] = "missing"
    return versions


def mmcv_ops_available() -> bool:
    """Whether mmcv's compiled ops import (mmseg.models needs them)."""
    try:
        importlib.import_module("mmcv.ops")
    except Exception:  # noqa: BLE001
        return False
    return True


def device_info() -> dict[str, str | int]:
    """Return the default device and the CPU thread count torch uses."""
    import torch

    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.device_count()}x {torch.cuda.get_device_name(0)})"
    else:
        device = "cpu"
    return {
        "device": device,
        "cpu_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count() or 0,
    }


def git_commit(repo: Path | None = None) -> str:
    """Return the current git commit (with ``-dirty`` if modified), or ``"unknown"``.

    Args:
        repo: The checkout to ask; by default the one the ``benchmark`` package runs
            from. An installed package (not in a checkout of its own) gives
            ``"unknown"``, even when its environment sits inside some other repository.
    """
    cwd = repo or PACKAGE_ROOT.parent
    try:
        top, sha = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=cwd, capture_output=True,
            text=True, check=True,
        ).stdout.splitlines()
        if Path(top).resolve() != Path(cwd).resolve():
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha
