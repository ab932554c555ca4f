"""``python -m benchmark plot``: figures from stored run records and training logs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import DEFAULT_RESULTS_DIR
from benchmark.reporting.records import read_records_reporting_problems


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plot", help="label-efficiency, per-class, training and pseudo-label plots",
        description="Write PNG and SVG figures into OUT: per protocol the label-efficiency "
        "curve (mIoU vs labeled fraction, error bars over seeds); per split per-class IoU "
        "bars, validation mIoU over training (from the records), loss terms and pseudo-label "
        "diagnostics (from MMEngine's scalar logs in the runs' work dirs, where present). "
        "Prints the paths, then notes on what could not be drawn.")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="folder holding runs/*.json")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default RESULTS_DIR/plots)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated methods to draw, e.g. supervised,sop,unimatch "
                        "(default: every method with records)")
    return parser


def select_methods(records: list, text: str | None, results_dir: Path) -> list:
    """The records of the methods named in ``text`` (all records if None).

    Raises:
        BenchmarkError: A named method has no record, with the methods that have one.
    """
    if not text:
        return records
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    present = sorted({record.method for record in records})
    missing = [name for name in wanted if name not in present]
    if missing or not wanted:
        raise BenchmarkError(f"--methods: no records of {', '.join(missing) or 'any method'} in "
                             f"{results_dir}/runs; methods with records: {', '.join(present)}")
    return [record for record in records if record.method in wanted]


def run(args: argparse.Namespace) -> int:
    from benchmark.reporting.plots.report import write_plots

    records = read_records_reporting_problems(args.results_dir)
    if not records:
        raise BenchmarkError(f"no usable run records in {args.results_dir}/runs")
    records = select_methods(records, args.methods, args.results_dir)
    report = write_plots(records, args.results_dir, args.out or args.results_dir / "plots")
    for path in report.paths:
        print(path)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
