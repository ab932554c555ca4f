"""Facts about the software stack and the device, recorded with every run."""

from __future__ import annotations

import hashlib
import importlib
import os
import platform
import subprocess
from pathlib import Path

from benchmark.paths import DEFAULT_RESULTS_DIR, PACKAGE_ROOT

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


def cpu_model() -> str:
    """The CPU kind: model name and widest vector instruction set, e.g. ``"AMD EPYC 7B13 (AVX2)"``.

    Float reductions differ between CPU kernels (AVX-512 or AVX2 code paths), so the same
    config can train to other weights on another CPU kind; records carry it. Read from
    ``/proc/cpuinfo``; ``platform.processor()`` elsewhere.
    """
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = " ".join(value.split())
            elif key.strip() in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown"
    isa = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"),
                                        ("avx", "AVX"), ("asimd", "NEON")) if flag in flags),
               None)
    return f"{model} ({isa})" if isa else model


def git_state(repo: Path | None = None) -> dict:
    """The commit, whether tracked files are modified, and the SHA-256 of that diff.

    Args:
        repo: The checkout to ask; by default the one the ``benchmark`` package runs
            from. An installed package (not in a checkout of its own) gives ``"unknown"``,
            even when its environment sits inside some other repository.

    Returns:
        ``{"commit": sha or "unknown", "label": the commit with ``-dirty`` if modified,
        "dirty": bool, "diff_sha256": str or None}``; the
        diff is ``git diff HEAD --binary`` (tracked files, staged or not), so two dirty
        trees with the same hash hold the same changes. The project's own ``results/``
        folder is left out: it holds outputs (records, leaderboards, plots), which every
        sweep rewrites, and no input of a run.
    """
    cwd = repo or PACKAGE_ROOT.parent
    unknown = {"commit": "unknown", "label": "unknown", "dirty": False, "diff_sha256": None}

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True,
                              check=True).stdout

    try:
        top = git("rev-parse", "--show-toplevel").decode().strip()
        if Path(top).resolve() != Path(cwd).resolve():
            return unknown
        sha = git("rev-parse", "HEAD").decode().strip()
        diff = git("diff", "HEAD", "--binary", "--", ".", f":(exclude){DEFAULT_RESULTS_DIR}")
    except (OSError, subprocess.CalledProcessError):
        return unknown
    return {"commit": sha, "label": f"{sha}-dirty" if diff else sha, "dirty": bool(diff),
            "diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None}
