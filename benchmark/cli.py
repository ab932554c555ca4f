"""Command-line interface: ``python -m benchmark <command>``.

Each command lives in ``benchmark/commands/<name>.py`` and exposes
``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from benchmark.errors import BenchmarkError

COMMANDS = ("run", "list", "splits", "table", "compare", "plot", "check-plugin", "pretrain",
            "reproduce", "perf", "env", "evaluate", "validity")

DESCRIPTION = """\
Benchmark suite for semi-supervised semantic segmentation.

Every method is a plugin over the same backbone, splits, schedule and evaluation
(MMSegmentation 1.x + MMEngine). Typical use:

  python -m benchmark list                                  # methods and protocols
  python -m benchmark splits                                # partitions, counts, checksums
  python -m benchmark run --methods supervised,meanteacher --split 1_8
  python -m benchmark table --results-dir results           # regenerate leaderboards
  python -m benchmark compare unimatch supervised --split 1_8  # beyond seed noise?
  python -m benchmark reproduce results/runs/<record>.json  # rerun a record, compare
  python -m benchmark plot                                  # label efficiency, curves
  python -m benchmark validity                              # is the protocol representative?
  python -m benchmark env                                   # versions, mmcv ops, device
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per command."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"benchmark.commands.{name.replace('-', '_')}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except BenchmarkError as err:
        # several problems (e.g. run's pre-flight) come one per line
        for line in str(err).splitlines() or [""]:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept in the results directory", file=sys.stderr)
        return 130
