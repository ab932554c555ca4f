"""``python -m benchmark pretrain``: build (once) and describe the built-in pretrained backbone."""

from __future__ import annotations

import argparse
import json
import sys

from benchmark.errors import BenchmarkError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "pretrain", help="build the built-in protocol's pretrained backbone (once per machine)",
        description="The built-in protocol starts every run from a backbone pretrained on a "
        "separate generated data set whose classes are the (shape, texture) pairs the "
        "benchmark does not use (ImageNet's role). It is built on first use and cached "
        "beside the generated data (SEMISEG_DATA); this command builds it now if needed and "
        "prints where it is and how it was made. SEMISEG_PRETRAIN (JSON) overrides recipe "
        "fields.")
    parser.add_argument("--json", action="store_true", help="print the metadata as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from benchmark.engine.library_warnings import library_warnings_to_run_log
    from benchmark.pretrain import builtin_backbone
    from benchmark.protocols import get_protocol

    protocol = get_protocol("synthetic")
    if not protocol.base_config.is_file():
        raise BenchmarkError(f"protocol config {protocol.base_config} is missing")
    with library_warnings_to_run_log():  # the pretraining run's log, not the console
        found = builtin_backbone(protocol, stream=sys.stderr)
    if args.json:
        print(json.dumps({"path": str(found.path), **found.meta}, indent=2))
        return 0
    meta = found.meta
    data = meta["pretraining_data"]
    print(f"checkpoint  {found.path}")
    print(f"sha256      {found.sha256}")
    print(f"recipe      {json.dumps(meta['recipe'])}")
    print(f"data        {data['num_images']} generated images (seed {data['seed']}) of "
          f"{len(data['classes'])} classes + background: {', '.join(data['classes'])}")
    print(f"excluded    the benchmark's classes: {', '.join(meta['excluded_benchmark_classes'])}")
    loss = meta.get("final_train_loss")
    print(f"built in    {meta['build_seconds']:.0f} s (torch {meta['torch']}), final train "
          f"loss {loss:.3f}" if loss is not None else
          f"built in    {meta['build_seconds']:.0f} s (torch {meta['torch']})")
    return 0
