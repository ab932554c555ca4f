"""``python -m benchmark evaluate``: score a checkpoint with a protocol's evaluation."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmark.errors import BenchmarkError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate", help="mIoU and per-class IoU of a checkpoint on a protocol's validation set",
        description="Evaluate a checkpoint exactly as a run's final evaluation does: the "
        "protocol's validation set and evaluation mode (whole image or sliding window), "
        "MMEngine's ValLoop and the per-class IoU metric. CHECKPOINT is a run's work dir "
        "(its final checkpoint, evaluated in the run's own network) or a .pth file (a run "
        "checkpoint, a plain MMSeg segmentor state dict or an official UniMatch-layout "
        "DeepLabV3Plus file, e.g. a model-zoo checkpoint, evaluated in the network of "
        "--method on --protocol). The weights are checked against the network before "
        "anything is evaluated.")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="work dir or .pth file")
    parser.add_argument("--protocol", default=None,
                        help="protocol (default: the work dir's, else 'synthetic')")
    parser.add_argument("--method", default="supervised",
                        help="method whose network a .pth is loaded into (default supervised)")
    parser.add_argument("--backbone", default=None,
                        help="backbone preset of a .pth's network (r50, r101, timm:<name>)")
    parser.add_argument("--data-root", default=None, metavar="DIR", help="dataset folder")
    parser.add_argument("--val-images", type=int, default=None, metavar="N",
                        help="evaluate the first N validation images (the built-in protocol "
                        "generates more when N exceeds its validation set)")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides checked like run's, e.g. "
                        "model.segmentor.test_cfg.window_rule=mmseg")
    parser.add_argument("--plugins", default="", help="comma-separated plugin files or modules")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--verbose", action="store_true", help="show MMEngine's log")
    return parser


def run(args: argparse.Namespace) -> int:
    from benchmark.engine.library_warnings import library_warnings_to_run_log
    from benchmark.plugins import load_all
    from benchmark.runs.cfg_options import parse_cfg_options
    from benchmark.runs.checkpoint_eval import evaluate_checkpoint, evaluation_config
    from benchmark.runs.checkpoint_weights import locate_checkpoint
    from benchmark.runs.protocol_settings import evaluation_mode

    load_all([p.strip() for p in args.plugins.split(",") if p.strip()])
    options = parse_cfg_options(args.cfg_options)
    if any(option.method for option in options):
        raise BenchmarkError("evaluate takes --cfg-options without a method prefix")
    source = locate_checkpoint(args.checkpoint)
    with tempfile.TemporaryDirectory(prefix="semiseg-evaluate-") as scratch, \
            library_warnings_to_run_log():
        cfg = evaluation_config(source, args.protocol, args.method, Path(scratch),
                                data_root=args.data_root, backbone=args.backbone,
                                val_images=args.val_images,
                                cfg_options={o.key: o.value for o in options})
        metrics = evaluate_checkpoint(cfg, source.checkpoint, verbose=args.verbose)
    per_class = {key[4:]: value for key, value in metrics.items() if key.startswith("IoU.")}
    result = {
        "checkpoint": str(source.checkpoint),
        "protocol": cfg.protocol_name,
        "method": source.method or args.method,
        "eval_mode": evaluation_mode(cfg),
        "val_images": metrics["num_images"],
        "mIoU": metrics["mIoU"],
        "aAcc": metrics["aAcc"],
        "per_class_iou": per_class,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"checkpoint  {result['checkpoint']}")
    print(f"protocol    {result['protocol']} ({result['method']} network), evaluation "
          f"{result['eval_mode']}, {result['val_images']} validation images")
    print(f"mIoU        {result['mIoU']:.2f}")
    width = max(len(name) for name in per_class)
    for name, value in per_class.items():
        print(f"  {name:<{width}}  {value:6.2f}")
    sys.stdout.flush()
    return 0
