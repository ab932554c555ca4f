"""``python -m benchmark table``: regenerate leaderboards from stored run records."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.runs.leaderboard import render
from benchmark.runs.record import load_records


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "table", help="regenerate leaderboards from stored run records",
        description="Read every record in RESULTS_DIR/runs/, print methods x splits tables "
        "(mean ± std over seeds, n shown; final checkpoint, and best-over-validations "
        "separately) and write leaderboard_<protocol>.md/.csv into RESULTS_DIR.")
    parser.add_argument("--results-dir", type=Path, default=Path("results"),
                        help="folder holding runs/*.json")
    return parser


def run(args: argparse.Namespace) -> int:
    if not (args.results_dir / "runs").is_dir():
        raise BenchmarkError(f"no run records in {args.results_dir}/runs; run "
                             "`python -m benchmark run` first or pass --results-dir")
    print(render(load_records(args.results_dir), args.results_dir))
    return 0
