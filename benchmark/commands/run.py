"""``python -m benchmark run``: train and evaluate methods x splits x seeds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.protocols import DEFAULT_PROTOCOL, get_protocol, protocol_for_split
from benchmark.registry import get_method, load_plugins
from benchmark.runs.spec import RunSpec


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "run",
        help="train + evaluate methods on splits and seeds, then print the leaderboard",
        description="Train each (method, split, seed) in sequence with MMEngine's Runner, "
        "evaluate it with the protocol's evaluation, write one JSON record per run to "
        "RESULTS_DIR/runs/, then print and write the leaderboards (Markdown + CSV) in "
        "RESULTS_DIR. Finished records are kept if a later run fails; a failed run is "
        "reported with its log and the others go on.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--methods", required=True,
                        help="comma-separated method names (see `python -m benchmark list`)")
    parser.add_argument("--split", default="1_8",
                        help="partition name, comma list, or 'all'; 'full' = every image labeled")
    parser.add_argument("--protocol", default=None,
                        help=f"protocol (see `python -m benchmark list`); default "
                        f"'{DEFAULT_PROTOCOL}', or the only protocol that has the split")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--iters", type=int, default=None,
                        help="training iterations (default: the protocol's schedule)")
    parser.add_argument("--results-dir", type=Path, default=Path("results"),
                        help="where run records and leaderboards go")
    parser.add_argument("--work-dir", type=Path, default=Path("work_dirs"),
                        help="checkpoints and MMEngine logs, one folder per run")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. optim_wrapper.optimizer.lr=0.02")
    parser.add_argument("--backbone", default=None,
                        help="r50, r101 or timm:<model>, the same for every method "
                        "(default: the protocol's)")
    parser.add_argument("--pretrained", default=None, metavar="PATH",
                        help="backbone checkpoint, or 'none' for random init (default: the "
                        "protocol's, e.g. pretrained/resnet101.pth)")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="dataset folder (default: the protocol's SEMISEG_*_ROOT variable)")
    parser.add_argument("--plugins", default="",
                        help="comma-separated external plugin modules or .py files")
    parser.add_argument("--skip-done", action="store_true",
                        help="skip runs whose record already exists with the same config")
    parser.add_argument("--jobs", default="auto",
                        help="runs trained side by side, each in its own process with an "
                        "equal share of the CPU cores (OMP_NUM_THREADS, if set, wins); 'auto' "
                        "= one per core on CPU (at most 8), 1 on CUDA")
    parser.add_argument("--verbose", action="store_true", help="show MMEngine's log")
    return parser


def parse_cfg_options(options: list[str]) -> dict:
    """Parse ``key=value`` pairs; values are read as Python literals when possible."""
    import ast

    parsed = {}
    for option in options:
        if "=" not in option:
            raise BenchmarkError(f"--cfg-options expects KEY=VALUE, got '{option}'")
        key, value = option.split("=", 1)
        try:
            parsed[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed[key] = value
    return parsed


def parse_seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError as err:
        raise BenchmarkError(f"--seeds expects comma-separated integers, got '{text}'") from err


def _plugin_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def plan_runs(args: argparse.Namespace) -> list[RunSpec]:
    """Validate the request and return the runs in execution order."""
    load_plugins(_plugin_list(args.plugins))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise BenchmarkError("--methods is empty; see `python -m benchmark list`")
    for method in methods:
        get_method(method)
    protocol = get_protocol(args.protocol, args.data_root) if args.protocol \
        else protocol_for_split(args.split)
    splits = protocol.resolve_splits(args.split)
    seeds = parse_seeds(args.seeds)
    options = parse_cfg_options(args.cfg_options)
    return [RunSpec(method=m, protocol=protocol.name, split=s, seed=k, iters=args.iters,
                    cfg_options=options, backbone=args.backbone, pretrained=args.pretrained,
                    data_root=args.data_root)
            for s in splits for m in methods for k in seeds]


def validate_plan(specs: list[RunSpec], work_root: Path) -> list:
    """Compose every run's config before the first iteration trains.

    A method that cannot run on a split, a missing config or checkpoint: all such problems
    are reported together, before anything is trained.

    Returns:
        The composed configs, in the order of ``specs``.

    Raises:
        BenchmarkError: One line naming every run that cannot start and why.
    """
    from benchmark.runs.executor import compose_config

    configs, problems = [], {}
    for spec in specs:
        try:
            configs.append(compose_config(spec, work_root))
        except BenchmarkError as err:
            problems.setdefault(str(err), []).append(spec.label)
    if problems:
        raise BenchmarkError("; ".join(f"{message} ({', '.join(labels)})"
                                       for message, labels in problems.items()))
    return configs


def run(args: argparse.Namespace) -> int:
    from benchmark.runs.executor import find_done
    from benchmark.runs.leaderboard import render
    from benchmark.runs.record import load_records
    from benchmark.runs.sweep import SweepOptions, execute_sweep, resolve_jobs

    specs = plan_runs(args)
    resolve_jobs(args.jobs, len(specs))  # a bad value stops before anything is composed
    configs = validate_plan(specs, args.work_dir)
    pending = []
    for number, (spec, cfg) in enumerate(zip(specs, configs), start=1):
        label = f"[{number}/{len(specs)}] {spec.label}"
        if args.skip_done and find_done(spec, args.results_dir, cfg):
            print(f"{label}: record exists, skipped", file=sys.stderr)
        else:
            pending.append((spec, cfg, label))
    options = SweepOptions(results_dir=args.results_dir, work_root=args.work_dir,
                           verbose=args.verbose, plugins=tuple(_plugin_list(args.plugins)))
    outcomes = execute_sweep(pending, options, jobs=resolve_jobs(args.jobs, len(pending)))
    print(render(load_records(args.results_dir), args.results_dir))
    failures = [o.spec for o in outcomes if o.status in ("failed", "stopped")]
    if failures:
        names = ", ".join(s.label for s in failures)
        print(f"error: {len(failures)} run(s) failed or stopped (see above): {names}",
              file=sys.stderr)
        return 1
    return 0
