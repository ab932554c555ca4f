"""``python -m benchmark pretrain``: describe the built-in backbone, or rebuild it and compare."""

from __future__ import annotations

import argparse
import json
import sys

from benchmark.errors import BenchmarkError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "pretrain", help="describe the built-in pretrained backbone, or rebuild it and compare",
        description="The built-in protocol starts every run from a backbone pretrained on a "
        "separate generated data set whose classes are the (shape, texture) pairs the "
        "benchmark does not use (ImageNet's role). It ships with the package as a file with "
        "its SHA-256 and recipe, so every machine loads the same bytes and lands in the same "
        "config hash. Without options this command prints which file runs load and how it "
        "was made. --rebuild trains it again from the recipe (about a minute on 2 cores) and "
        "says whether the bytes match the shipped file: on another CPU type they usually do "
        "not (float rounding differs between CPU kernels), and the report says by how much "
        "the weights differ. SEMISEG_PRETRAIN (JSON) overrides recipe fields; a recipe "
        "other than the shipped one is built once per machine and cached.")
    parser.add_argument("--rebuild", action="store_true",
                        help="train the backbone again from the recipe and compare it with the "
                        "file runs load")
    parser.add_argument("--update-asset", action="store_true",
                        help="(maintainers, with --rebuild) make the rebuilt file the shipped "
                        "asset and refresh the generated data sets' content manifest")
    parser.add_argument("--json", action="store_true", help="print the metadata as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from benchmark.engine.library_warnings import library_warnings_to_run_log
    from benchmark.pretrain import builtin_backbone
    from benchmark.protocols import get_protocol

    if args.update_asset and not args.rebuild:
        raise BenchmarkError("--update-asset installs a rebuilt backbone; add --rebuild")
    protocol = get_protocol("synthetic")
    if not protocol.base_config.is_file():
        raise BenchmarkError(f"protocol config {protocol.base_config} is missing")
    if args.rebuild:
        from benchmark.pretrain.rebuild import rebuild_and_compare

        with library_warnings_to_run_log():  # the pretraining run's log, not the console
            report = rebuild_and_compare(protocol, update_asset=args.update_asset,
                                         stream=sys.stderr)
        print(json.dumps(report, indent=2) if args.json else report["summary"])
        return 0
    with library_warnings_to_run_log():
        found = builtin_backbone(protocol, stream=sys.stderr)
    if args.json:
        print(json.dumps({"path": str(found.path), **found.meta}, indent=2))
        return 0
    print(describe(found))
    return 0


def describe(found) -> str:
    """Human-readable description of a :class:`~benchmark.pretrain.PretrainedBackbone`."""
    meta = found.meta
    data = meta["pretraining_data"]
    origin = "shipped with the package" if meta.get("shipped") else "built on this machine"
    lines = [
        f"checkpoint  {found.path} ({origin})",
        f"sha256      {found.sha256}",
        f"recipe      {json.dumps(meta['recipe'])}",
        f"data        {data['num_images']} generated images (seed {data['seed']}) of "
        f"{len(data['classes'])} classes + background: {', '.join(data['classes'])}",
        f"excluded    the benchmark's classes: {', '.join(meta['excluded_benchmark_classes'])}",
    ]
    made = meta.get("provenance") or {}
    loss = meta.get("final_train_loss")
    built = f"built in    {meta['build_seconds']:.0f} s (torch {meta['torch']})"
    if loss is not None:
        built += f", final train loss {loss:.3f}"
    if made:
        built += (f"; on {made.get('cpu', '?')} with {made.get('threads', '?')} threads, "
                  f"{made.get('created', '?')}, commit {str(made.get('git_commit', '?'))[:12]}")
    lines.append(built)
    return "\n".join(lines)
