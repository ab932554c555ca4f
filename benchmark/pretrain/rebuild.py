"""Rebuild the built-in backbone from its recipe and compare it with the file runs load."""

from __future__ import annotations

import shutil
import time

from benchmark.errors import BenchmarkError
from benchmark.pretrain.asset import install_asset, shipped_backbone, weight_difference
from benchmark.pretrain.backbone import (
    PRETRAIN_THREADS,
    build_cached,
    builtin_plan,
    verify_checkpoint,
)
from benchmark.streams import CONSOLE, console_stream

REBUILD_SUFFIX = "-rebuild"


def rebuild_and_compare(protocol, update_asset: bool = False, stream=CONSOLE) -> dict:
    """Train the built-in backbone again and compare it with the file runs load.

    The reference is the shipped asset when the recipe is the shipped one, else this
    machine's cached build of the recipe (none yet: the rebuild becomes the cached build).

    Args:
        protocol: The built-in :class:`~benchmark.protocols.Protocol`.
        update_asset: Install the rebuilt file as the shipped asset (maintainers) and
            refresh the content manifest of the generated data sets.
        stream: Where progress goes.

    Returns:
        ``{'rebuilt', 'rebuilt_sha256', 'reference', 'reference_sha256', 'identical',
        'difference', 'summary'}``; ``difference`` is :func:`weight_difference`'s dict (None
        when identical or without a reference).
    """
    import os

    stream = console_stream(stream)
    if update_asset and (os.environ.get("SEMISEG_PRETRAIN") or os.environ.get("SEMISEG_SYNTHETIC")):
        raise BenchmarkError("--update-asset ships the default recipe's backbone; unset "
                             "SEMISEG_PRETRAIN and SEMISEG_SYNTHETIC")
    plan = builtin_plan(protocol)
    cache = plan.cache_folder
    reference = None if update_asset else shipped_backbone(plan.key)
    if reference is None:
        reference = verify_checkpoint(cache)
    scratch = cache.with_name(cache.name + REBUILD_SUFFIX)
    shutil.rmtree(scratch, ignore_errors=True)
    rebuilt = build_cached(scratch, plan, stream)
    report = {"rebuilt": str(rebuilt.path), "rebuilt_sha256": rebuilt.sha256,
              "reference": str(reference.path) if reference else None,
              "reference_sha256": reference.sha256 if reference else None,
              "identical": bool(reference and reference.sha256 == rebuilt.sha256),
              "difference": None}
    if update_asset:
        previous = _shipped_sha256()
        installed = install_asset(rebuilt.path, rebuilt.meta, _provenance())
        _refresh_content_manifest(plan.target, plan.data)
        consequence = ("the same bytes as before, so no config hash changes" if
                       previous == installed.sha256 else "every built-in config hash changes: "
                       "regenerate the records")
        report["summary"] = (f"installed the rebuilt backbone as the shipped asset {installed.path}"
                             f" (SHA-256 {installed.sha256}; {consequence}); commit it with the "
                             "content manifest")
        return report
    if reference is None:
        shutil.rmtree(cache, ignore_errors=True)
        scratch.rename(cache)
        report["summary"] = (f"built {cache} (SHA-256 {rebuilt.sha256}); there was no earlier "
                             "build of this recipe to compare with, so runs of this recipe now "
                             "load this one")
        return report
    origin = "the shipped file" if reference.meta.get("shipped") else "this machine's cached build"
    if report["identical"]:
        report["summary"] = (f"rebuilt {rebuilt.path}: the bytes match {origin} "
                             f"(SHA-256 {rebuilt.sha256}); runs keep loading {reference.path}")
        return report
    diff = weight_difference(reference.path, rebuilt.path)
    report["difference"] = diff
    report["summary"] = (
        f"rebuilt {rebuilt.path}: SHA-256 {rebuilt.sha256[:12]}... differs from {origin} "
        f"({reference.sha256[:12]}...): {diff['tensors_differing']} of {diff['tensors']} weight "
        f"tensors differ, largest difference {diff['max_abs']:.3g}, relative L2 "
        f"{diff['relative_l2']:.3g}. This is expected on another CPU type or library version "
        "(float rounding differs between CPU kernels and compounds over training); runs keep "
        f"loading {reference.path}, so their config hashes do not change")
    return report


def _shipped_sha256() -> str | None:
    from benchmark.pretrain.asset import read_manifest

    try:
        return read_manifest()["sha256"]
    except BenchmarkError:
        return None


def _provenance() -> dict:
    import platform

    import torch

    from benchmark.environment import cpu_model, git_state

    return {"cpu": cpu_model(), "threads": PRETRAIN_THREADS, "torch": torch.__version__,
            "python": platform.python_version(), "git_commit": git_state()["label"],
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _refresh_content_manifest(target, data) -> None:
    """Write the content digests of the benchmark set and the pretraining set."""
    import json

    from benchmark.atomic_io import write_text_atomic
    from benchmark.synthetic import default_root, materialize
    from benchmark.synthetic.content import MANIFEST_PATH, manifest_entry, shipped_manifest

    manifest = shipped_manifest()
    for spec in (target, data):
        root = materialize(default_root(spec), spec)
        manifest[spec.fingerprint()] = manifest_entry(root, spec)
    write_text_atomic(MANIFEST_PATH, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
