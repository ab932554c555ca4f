"""``python -m benchmark run``: train and evaluate methods x splits x seeds."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from benchmark.errors import BenchmarkError
from benchmark.paths import DEFAULT_RESULTS_DIR
from benchmark.protocols import DEFAULT_PROTOCOL, get_protocol, protocol_for_split
from benchmark.registry import get_method
from benchmark.runs.cfg_options import options_for, parse_cfg_options, unknown_method_problems
from benchmark.runs.cluster import SUBMITIT_EXECUTORS, ClusterSettings
from benchmark.runs.launcher import LAUNCHERS, is_main_process, launcher_problem
from benchmark.runs.preflight import Problems
from benchmark.runs.spec import RunSpec
from benchmark.runs.sweep import resolve_jobs

if TYPE_CHECKING:
    from mmengine.config import Config


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "run",
        help="train + evaluate methods on splits and seeds, then print the leaderboard",
        description="Train each (method, split, seed) in sequence with MMEngine's Runner, "
        "evaluate it with the protocol's evaluation, write one JSON record per run to "
        "RESULTS_DIR/runs/, then print and write the leaderboards (Markdown + CSV) in "
        "RESULTS_DIR. Every run is composed and checked before the first one trains; all "
        "problems are reported together (exit 2). Finished records are kept if a later "
        "run fails; a failed run is reported with its log and the others go on. An "
        "interrupted run (killed, crashed) resumes from its last checkpoint when the same "
        "command runs again.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--methods", required=True,
                        help="comma-separated method names (see `python -m benchmark list`)")
    parser.add_argument("--split", default="1_8",
                        help="partition name, comma list, or 'all'; 'full' = every image labeled")
    parser.add_argument("--protocol", default=None,
                        help=f"protocol (see `python -m benchmark list`); default "
                        f"'{DEFAULT_PROTOCOL}', or the only protocol that has the split")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (0 or more)")
    parser.add_argument("--iters", type=int, default=None,
                        help="training iterations (default: the protocol's schedule)")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="where run records and leaderboards go")
    parser.add_argument("--work-dir", type=Path, default=Path("work_dirs"),
                        help="checkpoints and MMEngine logs, one folder per run")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="[METHOD:]KEY=VALUE",
                        help="config overrides, e.g. optim_wrapper.optimizer.lr=0.02 (every "
                        "method) or unimatch:model.conf_thresh=0.9 (that method only); a key "
                        "must exist in the composed config or be a parameter of the method "
                        "(model.<param>), +KEY=VALUE adds a new key")
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
                        help="skip runs whose record already exists with the same config hash "
                        "(the default with --executor local|slurm)")
    parser.add_argument("--force", action="store_true",
                        help="with --executor local|slurm: train runs again whose record "
                        "exists (those executors skip them by default)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check every run and print the plan (config hashes, which runs "
                        "are skipped) without training")
    parser.add_argument("--jobs", default="auto",
                        help="runs trained side by side, each in its own process with an "
                        "equal share of the CPU cores (OMP_NUM_THREADS, if set, wins); 'auto' "
                        "= one per core on CPU (at most 8), 1 on CUDA")
    parser.add_argument("--restart", action="store_true",
                        help="train interrupted runs from iteration 0 (by default a run "
                        "resumes from the checkpoint its interrupted attempt left)")
    parser.add_argument("--launcher", default="none", metavar="{" + ",".join(LAUNCHERS) + "}",
                        help="MMEngine launcher: 'pytorch' trains each run over the processes "
                        "of torchrun --nproc_per_node=N -m benchmark run ... (gloo on CPU); "
                        "runs then go one at a time")
    parser.add_argument("--executor", default="inline",
                        metavar="{" + ",".join(("inline", *SUBMITIT_EXECUTORS)) + "}",
                        help="'inline': in this process (--jobs side by side); 'slurm': one "
                        "submitit job per (method, split, seed), waited for; 'local': the same "
                        "jobs as local processes")
    parser.add_argument("--slurm-partition", default=None, help="Slurm partition of each job")
    parser.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per Slurm job")
    parser.add_argument("--slurm-cpus", type=int, default=None, help="CPUs per Slurm job")
    parser.add_argument("--slurm-time", type=int, default=24 * 60, metavar="MIN",
                        help="time limit of each job in minutes (also for 'local')")
    parser.add_argument("--verbose", action="store_true", help="show MMEngine's log")
    return parser


def parse_seeds(text: str) -> list[int]:
    """Comma-separated non-negative seeds.

    Raises:
        BenchmarkError: For a seed that is not an integer or is negative.
    """
    if not text.strip(" ,"):
        raise BenchmarkError("--seeds is empty; give at least one seed, e.g. --seeds 0")
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as err:
        raise BenchmarkError(f"--seeds expects comma-separated integers, got '{text}'") from err
    if not seeds or min(seeds) < 0:
        raise BenchmarkError(f"--seeds expects integers >= 0, got '{text}'")
    return seeds


def _plugin_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def plan_runs(args: argparse.Namespace) -> list[RunSpec]:
    """Validate the request and return the runs in execution order.

    Raises:
        BenchmarkError: One line per problem of the request (methods, seeds, options,
            ``--jobs``), or the protocol/split error.
    """
    from benchmark.plugins import load_all

    load_all(_plugin_list(args.plugins))
    problems = Problems()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        problems.add("--methods is empty; see `python -m benchmark list`")
    for method in methods:
        try:
            get_method(method)
        except BenchmarkError as err:
            problems.add(str(err))
    seeds, options = [], []
    for parse, text, into in ((parse_seeds, args.seeds, seeds),
                              (parse_cfg_options, args.cfg_options, options)):
        try:
            into.extend(parse(text))
        except BenchmarkError as err:
            problems.add(str(err))
    for problem in unknown_method_problems(options, methods):
        problems.add(problem)
    try:
        resolve_jobs(args.jobs, 1)
    except BenchmarkError as err:
        problems.add(str(err))
    launcher = getattr(args, "launcher", "none")
    if problem := launcher_problem(launcher, getattr(args, "executor", "inline")):
        problems.add(problem)
    for option in ("slurm_gpus", "slurm_time"):
        if getattr(args, option, 1) < 1:
            problems.add(f"--{option.replace('_', '-')} must be a positive integer, got "
                         f"{getattr(args, option)}")
    problems.raise_if_any()
    protocol = get_protocol(args.protocol, args.data_root) if args.protocol \
        else protocol_for_split(args.split)
    splits = protocol.resolve_splits(args.split)
    methods, splits, seeds = _planned_once(methods, splits, seeds)
    return [RunSpec(method=m, protocol=protocol.name, split=s, seed=k, iters=args.iters,
                    cfg_options=options_for(options, m), backbone=args.backbone,
                    pretrained=args.pretrained, data_root=args.data_root)
            for s in splits for m in methods for k in seeds]


def _planned_once(methods: list[str], splits: list[str],
                  seeds: list[int]) -> tuple[list[str], list[str], list[int]]:
    """The request without repeated names, with a note line when something was repeated.

    Two identical runs would train into one work dir; ``--seeds 0,0`` plans seed 0 once.
    """
    repeated = []
    for flag, values in (("--methods", methods), ("--split", splits), ("--seeds", seeds)):
        twice = [str(v) for v in dict.fromkeys(values) if values.count(v) > 1]
        if twice:
            repeated.append(f"{flag} repeats {', '.join(twice)}")
    if repeated and os.environ.get("RANK", "0") == "0":
        print(f"note: {'; '.join(repeated)}; each (method, split, seed) is planned once",
              file=sys.stderr)
    return list(dict.fromkeys(methods)), list(dict.fromkeys(splits)), list(dict.fromkeys(seeds))


def _jobs(args: argparse.Namespace, num_runs: int) -> int:
    """``--jobs`` resolved; 1 under a launcher (one run at a time over its processes)."""
    if args.launcher == "none":
        return resolve_jobs(args.jobs, num_runs)
    if args.jobs not in ("auto", "1") and is_main_process():
        print(f"note: --launcher {args.launcher} trains one run at a time over its "
              f"processes; --jobs {args.jobs} is ignored", file=sys.stderr)
    return 1


def _cluster(args: argparse.Namespace) -> ClusterSettings | None:
    if args.executor == "inline":
        return None
    return ClusterSettings(executor=args.executor, partition=args.slurm_partition,
                           gpus=args.slurm_gpus, cpus=args.slurm_cpus, time_min=args.slurm_time)


@contextmanager
def _console(verbose: bool) -> Iterator[None]:
    """Unless ``verbose``: MMEngine's log and the libraries' warnings off the console.

    Each run logs to its own file (:mod:`benchmark.engine.console`); lines MMEngine logs
    before the first run (e.g. while a checkpoint is checked) are kept to errors, and the
    libraries' Python warnings go to the current run's log
    (:mod:`benchmark.engine.library_warnings`).
    """
    if verbose:
        yield
        return
    from mmengine.logging import MMLogger

    from benchmark.engine.console import log_to_file
    from benchmark.engine.library_warnings import library_warnings_to_run_log

    log_to_file(MMLogger.get_current_instance())
    with library_warnings_to_run_log():
        yield


def _recover_records(specs: list[RunSpec], configs: list[Config], results_dir: Path,
                     say) -> None:
    """Move records an earlier command could not write (full disk) into ``results_dir``."""
    from benchmark.runs.config_builder import config_hash
    from benchmark.runs.results_space import recover_unsaved_records

    names = [f"{s.run_id}__{config_hash(c)[:8]}.json" for s, c in zip(specs, configs)]
    for line in recover_unsaved_records([Path(c.work_dir) for c in configs], names,
                                        results_dir):
        say(line)


def busy_work_dirs(pending: list[tuple[RunSpec, Config, str]]) -> None:
    """Stop before training if another command holds the work dir of a planned run.

    Raises:
        BenchmarkError: One line per run whose work dir is held, naming the holder.
    """
    from benchmark.runs.work_lock import WorkDirBusy, check_work_dir_free

    problems = Problems()
    for spec, cfg, _ in pending:
        try:
            check_work_dir_free(Path(cfg.work_dir))
        except WorkDirBusy as err:
            problems.add(str(err), spec)
    problems.raise_if_any()


def run(args: argparse.Namespace) -> int:
    with _console(args.verbose):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from benchmark.reporting.records import read_records_reporting_problems
    from benchmark.runs.dry_run import describe_plan
    from benchmark.runs.executor import find_done
    from benchmark.runs.launcher import batch_warning, start_processes
    from benchmark.runs.leaderboard import render
    from benchmark.runs.preflight import preflight
    from benchmark.runs.sweep import SweepOptions, execute_sweep

    specs = plan_runs(args)
    start_processes(args.launcher)
    main_process = is_main_process()
    say = (lambda line: print(line, file=sys.stderr)) if main_process else (lambda line: None)
    data_notes: list[str] = []
    configs = preflight(specs, args.work_dir, args.results_dir, plan_only=args.dry_run,
                        notes=data_notes)
    for note in data_notes:  # --dry-run plans a sweep for a machine that has the data
        say(f"warning: {note} (planned without it; `run` without --dry-run stops here)")
    # `run` trains what it is asked to (make run on a fresh clone trains beside the shipped
    # records); a cluster sweep is resubmitted after failures, so it skips finished runs
    skip_done = args.skip_done or (args.executor in ("local", "slurm") and not args.force)
    if args.dry_run:
        if main_process:
            print(describe_plan(specs, configs, args.results_dir, force=not skip_done))
        return 0
    if main_process:
        _recover_records(specs, configs, args.results_dir, say)
    pending = []
    for number, (spec, cfg) in enumerate(zip(specs, configs), start=1):
        label = f"[{number}/{len(specs)}] {spec.label}"
        if skip_done and find_done(spec, args.results_dir, cfg):
            say(f"{label}: record exists, skipped")
        else:
            pending.append((spec, cfg, label))
    if main_process:
        busy_work_dirs(pending)
    world_size = int(os.environ.get("WORLD_SIZE", "1")) if args.launcher != "none" else 1
    for warning in dict.fromkeys(filter(None, (batch_warning(c, world_size)
                                               for _, c, _ in pending))):
        say(warning)
    options = SweepOptions(results_dir=args.results_dir, work_root=args.work_dir,
                           verbose=args.verbose, plugins=tuple(_plugin_list(args.plugins)),
                           restart=args.restart, launcher=args.launcher)
    outcomes = execute_sweep(pending, options, jobs=_jobs(args, len(pending)),
                             stream=sys.stderr if main_process else open(os.devnull, "w"),
                             cluster=_cluster(args))
    if not main_process:
        return 0
    records = read_records_reporting_problems(args.results_dir)
    try:
        print(render(records, args.results_dir))
    except OSError as err:  # e.g. the results disk filled up while training
        print(render(records))
        say(f"warning: leaderboard files not written to {args.results_dir} ({err.strerror}); "
            "`python -m benchmark table` writes them once there is room")
    skipped = len(specs) - len(pending)
    failures = [o.spec for o in outcomes if o.status in ("failed", "stopped")]
    print(f"runs: {len(outcomes) - len(failures)} done, {skipped} skipped, "
          f"{len(failures)} failed or stopped", file=sys.stderr)
    if failures:
        names = ", ".join(s.label for s in failures)
        print(f"error: {len(failures)} run(s) failed or stopped (see above): {names}",
              file=sys.stderr)
        return 1
    return 0
