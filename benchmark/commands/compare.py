"""``python -m benchmark compare A B``: paired comparison of two methods over shared seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import DEFAULT_RESULTS_DIR
from benchmark.reporting.cells import METRIC_COLUMNS
from benchmark.reporting.frame import ordered_splits, protocol_runs, records_frame, seed_values
from benchmark.reporting.paired import PairedComparison, excluded_text, paired_comparison
from benchmark.reporting.records import read_records_reporting_problems


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare", help="is method A better than B beyond seed noise? (paired over seeds)",
        description="Pair the runs of A and B by seed on each split both were run on and "
        "print the mean difference A - B with a 95%% t-interval, the paired t-test's p-value "
        "and the verdict. A and B are leaderboard row names (a method, or a variant as the "
        "table names it). A seed where either diverged (NaN mIoU) is left out with a line; "
        "fewer than 2 shared seeds is an error (exit 2).")
    parser.add_argument("a", help="first method (leaderboard row name)")
    parser.add_argument("b", help="second method (leaderboard row name)")
    parser.add_argument("--split", help="compare at this split only (default: every shared one)")
    parser.add_argument("--protocol", help="protocol (default: every one holding both)")
    parser.add_argument("--metric", choices=("final", "best"), default="final",
                        help="final checkpoint (default) or best over validations")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="folder holding runs/*.json")
    return parser


def describe(comparison: PairedComparison, where: str) -> str:
    """The printed lines of one comparison (with a line for seeds left out as diverged)."""
    seeds = ", ".join(str(s) for s in comparison.seeds)
    level = round(comparison.confidence * 100)
    p_value = "n/a" if comparison.p_value != comparison.p_value else f"{comparison.p_value:.3g}"
    excluded = f"  {excluded_text(comparison.diverged)}\n" if comparison.diverged else ""
    return (f"{where}: paired over seeds {seeds} (n={comparison.n})\n{excluded}"
            f"  {comparison.a} - {comparison.b} = {comparison.mean_difference:+.2f} mIoU, "
            f"{level}% CI [{comparison.ci_low:+.2f}, {comparison.ci_high:+.2f}] (t-interval), "
            f"paired t-test p = {p_value}\n"
            f"  verdict: {comparison.verdict}")


def _cells(args: argparse.Namespace, frame) -> list[tuple[str, str, object]]:
    protocols = [args.protocol] if args.protocol else sorted(frame.protocol.unique())
    cells = []
    for protocol in protocols:
        runs = protocol_runs(frame, protocol)
        if runs.empty:
            continue
        for name in (args.a, args.b):
            if name not in set(runs.row) and args.protocol:
                raise BenchmarkError(f"no runs of {name!r} on {protocol}; rows: "
                                     f"{', '.join(sorted(set(runs.row)))}")
        splits_a = set(runs[runs.row == args.a].split)
        splits_b = set(runs[runs.row == args.b].split)
        shared = ordered_splits(protocol, splits_a & splits_b)
        if args.split:
            shared = [s for s in shared if s == args.split]
        cells += [(protocol, split, runs) for split in shared]
    return cells


def run(args: argparse.Namespace) -> int:
    records = read_records_reporting_problems(args.results_dir)
    frame = records_frame(records)
    if frame.empty:
        raise BenchmarkError(f"no usable run records in {args.results_dir}/runs")
    cells = _cells(args, frame)
    if not cells:
        where = f" at split {args.split}" if args.split else ""
        raise BenchmarkError(f"{args.a} and {args.b} were not both run on any split{where}")
    value = METRIC_COLUMNS[args.metric]
    label = "final mIoU" if args.metric == "final" else "best mIoU over validations"
    texts = []
    for protocol, split, runs in cells:
        comparison = paired_comparison(seed_values(runs, args.a, split, value),
                                       seed_values(runs, args.b, split, value),
                                       args.a, args.b)
        texts.append(describe(comparison, f"{protocol} {split}, {label}"))
    print("\n".join(texts))
    return 0
