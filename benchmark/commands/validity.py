"""``python -m benchmark validity``: the built-in protocol's validity targets from records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import DEFAULT_RESULTS_DIR
from benchmark.protocols import PROTOCOLS
from benchmark.reporting.formats import FORMATS, render_blocks
from benchmark.reporting.frame import records_frame
from benchmark.reporting.readme import VALIDITY_END, VALIDITY_START, update_readme
from benchmark.reporting.records import read_records_reporting_problems
from benchmark.reporting.validity import validity_block

PROTOCOL = "synthetic"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "validity", help="is the built-in protocol representative? its targets, measured",
        description="Measure the built-in protocol's validity targets on the records in "
        "RESULTS_DIR/runs/: supervised-only on all labels converged (the default schedule "
        "against twice it), label scarcity (all labels minus 1/8), seed noise (std of "
        "supervised-only at 1/8 over 5 seeds), the references `unimatch` and `sop` with "
        "model.sop_weight=0 above supervised-only beyond seed noise at 1/16 and 1/8 and not "
        "below it at 1/4 (paired over seeds, Holm-adjusted per split), and the time budget "
        "(`make run`, the whole 1/8 leaderboard). A target whose records are missing says "
        "which, and is 'not measured'.")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="folder holding runs/*.json")
    parser.add_argument("--protocol", default=PROTOCOL,
                        help="protocol (only the built-in one has targets)")
    parser.add_argument("--format", choices=FORMATS, default="md", dest="fmt",
                        help="md (default), csv, latex, html")
    parser.add_argument("--update-readme", type=Path, nargs="?", const=Path("README.md"),
                        metavar="README", help="write the Markdown table into the README's "
                        "generated validity block (default README.md)")
    return parser


def default_schedule(protocol: str) -> int:
    """The protocol config's number of training iterations."""
    from mmengine.config import Config

    return int(Config.fromfile(PROTOCOLS[protocol].base_config).train_cfg.max_iters)


def validity_text(results_dir: Path, protocol: str = PROTOCOL, fmt: str = "md") -> str:
    """The validity table of the records in ``results_dir`` (the README block, in Markdown).

    Raises:
        BenchmarkError: For a protocol without targets or a folder without records.
    """
    from benchmark.plugins import load_all
    from benchmark.registry import registered_methods

    if protocol != PROTOCOL:
        raise BenchmarkError(f"validity targets are defined for the built-in protocol only; "
                             f"drop --protocol {protocol} (or pass --protocol {PROTOCOL})")
    if not (Path(results_dir) / "runs").is_dir():
        raise BenchmarkError(f"no run records in {results_dir}/runs; run `python -m benchmark "
                             "run` first or pass --results-dir")
    frame = records_frame(read_records_reporting_problems(results_dir))
    if frame.empty or protocol not in set(frame.protocol):
        raise BenchmarkError(f"no {protocol} records in {results_dir}/runs")
    load_all()
    block = validity_block(frame[frame.protocol == protocol], protocol,
                           default_schedule(protocol), sorted(registered_methods()))
    return render_blocks([block], fmt)


def run(args: argparse.Namespace) -> int:
    text = validity_text(args.results_dir, args.protocol,
                         "md" if args.update_readme is not None else args.fmt)
    if args.update_readme is not None:
        changed = update_readme(args.update_readme, args.protocol, text, VALIDITY_START,
                                VALIDITY_END)
        print(f"{args.update_readme}: {'updated' if changed else 'already up to date'}",
              file=sys.stderr)
        return 0
    print(text, end="")
    return 0
