"""Execute a planned sweep: runs one after another, several side by side, or as jobs.

There is one way to execute and report a run (:func:`attempt_run`); what differs is the
executor strategy of :func:`execute_sweep`: in this process (``--jobs 1``), in a pool of
local processes (``--jobs N``), or as submitit jobs (``--executor local|slurm``, see
:mod:`benchmark.runs.cluster`). Side-by-side runs are separate processes (``spawn``: a
fresh interpreter per run, so no run inherits another's RNG, thread pool or registry
state), each limited to its share of the CPU cores; :mod:`benchmark.runs.side_by_side`
starts them and ends them all on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from mmengine.config import Config

from benchmark.errors import BenchmarkError, NonFiniteLossError
from benchmark.runs.side_by_side import WorkerEnded, run_side_by_side
from benchmark.runs.spec import RunSpec

#: Full progress lines per run when several runs share the console.
PARALLEL_PROGRESS_LINES = 10


@dataclass(frozen=True)
class RunOutcome:
    """How one run of a sweep ended.

    Attributes:
        spec: The run.
        status: ``done``, ``skipped`` (record exists), ``stopped`` (non-finite loss) or
            ``failed`` (any other exception; its traceback is in ``work_dir/failure.log``).
        message: One line for the console, prefixed with the run's label.
    """

    spec: RunSpec
    status: str
    message: str


@dataclass(frozen=True)
class SweepOptions:
    """Where a sweep writes and how it shows progress (shared by every run)."""

    results_dir: Path
    work_root: Path
    verbose: bool = False
    plugins: tuple[str, ...] = ()
    restart: bool = False
    launcher: str = "none"


def available_cores() -> int:
    """CPU cores this process may use (affinity mask, else ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: Most runs ``--jobs auto`` trains side by side on a CPU (memory: about 1-2 GB each).
MAX_AUTO_JOBS = 8


def resolve_jobs(text: str, num_runs: int) -> int:
    """Runs to train side by side for ``--jobs`` (an integer, or ``auto``).

    ``auto`` is 1 on a CUDA machine (runs would share one GPU) and otherwise one run per
    core, at most ``MAX_AUTO_JOBS`` and at most ``num_runs``.

    Raises:
        BenchmarkError: If ``text`` is neither ``auto`` nor a positive integer.
    """
    import torch

    if text == "auto":
        if torch.cuda.is_available():
            return 1
        return max(1, min(num_runs, available_cores(), MAX_AUTO_JOBS))
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise BenchmarkError(f"--jobs must be 'auto' or a positive integer, got '{text}'")
    return jobs


def threads_per_run(jobs: int) -> int:
    """Intra-op threads for each of ``jobs`` side-by-side runs: an equal share of the cores."""
    return max(1, available_cores() // jobs)


def attempt_run(spec: RunSpec, cfg: Config, options: SweepOptions, label: str,
                progress_lines: int | None = None) -> RunOutcome:
    """Train, evaluate and record one run; never raises for a failure of the run itself.

    The process holding rank 0 holds the run's work dir (:mod:`benchmark.runs.work_lock`)
    while it trains; a run whose work dir another command holds is not started and its
    outcome names the holder (no ``failure.log`` is written into the holder's folder).
    """
    from benchmark.runs.executor import execute_run
    from benchmark.runs.launcher import is_main_process
    from benchmark.runs.work_lock import WorkDirBusy, hold_work_dir

    try:
        with hold_work_dir(Path(cfg.work_dir)) if is_main_process() else nullcontext():
            record, path = execute_run(spec, options.results_dir, options.work_root, label,
                                       options.verbose, cfg, progress_lines=progress_lines,
                                       restart=options.restart, launcher=options.launcher)
    except WorkDirBusy as err:
        return RunOutcome(spec, "failed", f"{label}: not started: {err}")
    except NonFiniteLossError as err:
        return RunOutcome(spec, "stopped", f"{label}: stopped: {err}")
    except Exception as err:  # noqa: BLE001 - one failed run must not end the sweep
        first_line = (str(err).splitlines() or [""])[0]
        return RunOutcome(spec, "failed", f"{label}: failed: {type(err).__name__}: "
                          f"{first_line} ({keep_traceback(Path(cfg.work_dir), spec)})")
    return RunOutcome(spec, "done", f"{label}: mIoU {record.miou:.2f} (best "
                      f"{record.best_miou:.2f} at iter {record.best_iter}), "
                      f"{record.seconds_per_iter or float('nan'):.3f} s/it, record {path}")


def keep_traceback(work_dir: Path, spec: RunSpec) -> str:
    """Write the current exception's traceback to ``work_dir/failure.log``; say where it is.

    If the work dir cannot be written (a full disk, a read-only or vanished folder), the
    traceback goes to a file in the system's temporary folder instead, so the failure is
    still one line and the sweep goes on.

    Returns:
        ``traceback: <file>; MMEngine log under <work dir>/``, or where it went instead.
    """
    import tempfile

    text = traceback.format_exc()
    log = work_dir / "failure.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
        return f"traceback: {log}; MMEngine log under {log.parent}/"
    except OSError as err:
        reason = f"{log} cannot be written: {err.strerror or type(err).__name__}"
    try:
        with tempfile.NamedTemporaryFile("w", prefix=f"semiseg-failure-{spec.run_id}-",
                                         suffix=".log", delete=False) as spare:
            spare.write(text)
        return f"traceback: {spare.name}, since {reason}"
    except OSError:
        return f"no traceback kept: {reason}, nor the temporary folder"


def attempt_in_worker(threads: int | None, spec: RunSpec, cfg: Config, options: SweepOptions,
                       label: str) -> RunOutcome:
    """Worker-process or job entry: thread budget, plugins and (unless ``verbose``) the
    library warnings sent to the run's log, then :func:`attempt_run`.

    The config arrives composed, so its ``custom_imports`` never run here: the registries
    are filled by importing what they name.
    """
    import torch

    from benchmark.engine.library_warnings import library_warnings_to_run_log
    from benchmark.plugins import load_all

    if threads is not None:
        torch.set_num_threads(threads)
    load_all(options.plugins)
    with nullcontext() if options.verbose else library_warnings_to_run_log():
        return attempt_run(spec, cfg, options, label, progress_lines=PARALLEL_PROGRESS_LINES)


def _side_by_side_worker(threads: int | None, spec: RunSpec, cfg: Config,
                         options: SweepOptions, label: str) -> RunOutcome:
    """Entry of a side-by-side worker: :func:`attempt_in_worker`, whose own failures (e.g.
    a plugin that does not import here) are the run's outcome."""
    try:
        return attempt_in_worker(threads, spec, cfg, options, label)
    except Exception as err:  # noqa: BLE001 - reported as the run's failure
        return _worker_failure(spec, label, f"{type(err).__name__}: {err}")


def _worker_failure(spec: RunSpec, label: str, reason: str) -> RunOutcome:
    """The outcome of a run whose worker failed outside the run (or died): one line."""
    return RunOutcome(spec, "failed", f"{label}: failed: worker process ended: {reason}")


def execute_sweep(runs: list[tuple[RunSpec, Config, str]], options: SweepOptions,
                  jobs: int = 1, stream=None, cluster=None) -> list[RunOutcome]:
    """Execute ``runs`` (spec, composed config, label) and report each as it ends.

    Args:
        runs: The runs to train, in order of submission.
        options: Output locations and console settings shared by every run.
        jobs: Runs trained at the same time. 1 trains in this process; more start one
            worker process per run, each with ``threads_per_run(jobs)`` threads unless
            ``OMP_NUM_THREADS`` is set.
        stream: Where the one-line outcome of each run is written (default: the
            current ``sys.stderr``, looked up at call time).
        cluster: :class:`~benchmark.runs.cluster.ClusterSettings` to run each run as a
            submitit job (``jobs`` then only sets the threads of local jobs); None runs
            here or in local worker processes.

    Returns:
        The outcomes, in the order the runs ended.
    """
    stream = stream or sys.stderr
    outcomes = []
    if cluster is not None and runs:
        from benchmark.runs.cluster import execute_jobs

        threads = None if cluster.executor != "local" or os.environ.get("OMP_NUM_THREADS") \
            else threads_per_run(len(runs))
        return execute_jobs(runs, options, cluster, threads, stream)
    if jobs <= 1 or len(runs) <= 1:
        for spec, cfg, label in runs:
            outcomes.append(attempt_run(spec, cfg, options, label))
            print(outcomes[-1].message, file=stream)
        return outcomes
    return _execute_side_by_side(runs, options, jobs, stream)


def _execute_side_by_side(runs: list[tuple[RunSpec, Config, str]], options: SweepOptions,
                          jobs: int, stream) -> list[RunOutcome]:
    """``jobs`` runs at a time in worker processes; Ctrl-C ends them all (see
    :func:`~benchmark.runs.side_by_side.run_side_by_side`) and goes on as KeyboardInterrupt.
    """
    threads = None if os.environ.get("OMP_NUM_THREADS") else threads_per_run(jobs)
    print(f"training {len(runs)} runs, {jobs} at a time"
          f"{f', {threads} thread(s) each' if threads else ''}", file=stream)
    outcomes = []

    def report(index: int, result: RunOutcome | WorkerEnded) -> None:
        spec, _, label = runs[index]
        if isinstance(result, WorkerEnded):  # e.g. killed when out of memory
            result = _worker_failure(spec, label, str(result))
        outcomes.append(result)
        print(result.message, file=stream)

    run_side_by_side([(_side_by_side_worker, (threads, spec, cfg, options, label))
                      for spec, cfg, label in runs], jobs, report)
    return outcomes
