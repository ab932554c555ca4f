"""``python -m benchmark table``: leaderboards and reports from stored run records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import DEFAULT_RESULTS_DIR
from benchmark.protocols import PROTOCOLS
from benchmark.reporting.formats import FORMATS, render_blocks
from benchmark.reporting.readme import update_readme
from benchmark.reporting.records import read_records_reporting_problems
from benchmark.reporting.report import protocol_blocks, record_protocols
from benchmark.runs.leaderboard import render
from benchmark.runs.record import RunRecord


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "table", help="leaderboards, per-class and compute tables from stored run records",
        description="Read every record in RESULTS_DIR/runs/ and print, per protocol, methods x "
        "splits (mean ± std over seeds, n shown, best per column in bold, ↑/↓ where a method "
        "differs from supervised-only beyond seed noise), then published numbers where the "
        "protocol has any. Unusable records are named on stderr and skipped. Without "
        "options it also writes leaderboard_<protocol>.md/.csv into RESULTS_DIR.")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="folder holding runs/*.json")
    parser.add_argument("--protocol", help="report only this protocol")
    parser.add_argument("--format", choices=FORMATS, default="md", dest="fmt",
                        help="md (default), csv (long form), latex (tabular fragment), html")
    parser.add_argument("--metric", choices=("final", "best"), default="final",
                        help="final checkpoint (default) or best over validations (labelled)")
    parser.add_argument("--per-class", action="store_true", help="add per-class IoU tables")
    parser.add_argument("--compute", action="store_true",
                        help="add compute tables relative to supervised-only")
    parser.add_argument("--update-readme", type=Path, nargs="?", const=Path("README.md"),
                        metavar="README", help="write the Markdown leaderboard of --protocol "
                        "into the README's generated block (default README.md)")
    return parser


def _protocols(records: list[RunRecord], requested: str | None) -> list[str]:
    if requested is None:
        return record_protocols(records)
    if requested not in PROTOCOLS and requested not in record_protocols(records):
        raise BenchmarkError(f"unknown protocol {requested!r}; valid: {', '.join(PROTOCOLS)}")
    return [requested]


def table_text(records: list[RunRecord], protocol: str, fmt: str = "md",
               metric: str = "final", per_class: bool = False, compute: bool = False) -> str:
    """The text ``table`` prints for one protocol (the README block is this, in Markdown)."""
    return render_blocks(protocol_blocks(records, protocol, metric, per_class, compute), fmt)


def run(args: argparse.Namespace) -> int:
    if not (args.results_dir / "runs").is_dir():
        raise BenchmarkError(f"no run records in {args.results_dir}/runs; run "
                             "`python -m benchmark run` first or pass --results-dir")
    records = read_records_reporting_problems(args.results_dir)
    if args.update_readme is not None:
        if args.protocol is None:
            raise BenchmarkError("--update-readme needs --protocol (the block it replaces)")
        changed = update_readme(args.update_readme, args.protocol,
                                table_text(records, args.protocol))
        print(f"{args.update_readme}: {'updated' if changed else 'already up to date'}",
              file=sys.stderr)
        return 0
    plain = (args.protocol is None and args.fmt == "md" and args.metric == "final"
             and not args.per_class and not args.compute)
    if plain:
        print(render(records, args.results_dir))
        return 0
    texts = [table_text(records, protocol, args.fmt, args.metric, args.per_class, args.compute)
             for protocol in _protocols(records, args.protocol)]
    print("\n".join(texts), end="")
    return 0
