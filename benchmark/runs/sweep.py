"""Execute a planned sweep: runs one after another, several side by side, or as jobs.

There is one way to execute and report a run (:func:`attempt_run`); what differs is the
executor strategy of :func:`execute_sweep`: in this process (``--jobs 1``), in a pool of
local processes (``--jobs N``), or as submitit jobs (``--executor local|slurm``, see
:mod:`benchmark.runs.cluster`). Side-by-side runs are separate processes (``spawn``: a
fresh interpreter per run, so no run inherits another's RNG, thread pool or registry
state), each limited to its share of the CPU cores. The standard library's
``ProcessPoolExecutor`` does the scheduling; what it lacks is the per-run thread budget
and the failure bookkeeping, written here.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from mmengine.config import Config

from benchmark.errors import BenchmarkError, NonFiniteLossError
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


def end_with_parent() -> None:
    """Have the kernel end this process with SIGTERM when the process that started it ends.

    A side-by-side worker must not outlive its sweep: killed with SIGTERM, the sweep's
    process would otherwise leave its workers training and writing records as orphans.
    ``ProcessPoolExecutor`` has no such option, so this sets Linux's
    ``PR_SET_PDEATHSIG`` by hand (no-op on other systems). The interrupted run keeps its
    last resume checkpoint. If the parent is already gone, the process ends at once.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = multiprocessing.parent_process()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


def _pool_worker(threads: int | None, spec: RunSpec, cfg: Config, options: SweepOptions,
                 label: str) -> RunOutcome:
    """Entry of a side-by-side worker: :func:`end_with_parent`, then :func:`attempt_in_worker`."""
    end_with_parent()
    return attempt_in_worker(threads, spec, cfg, options, label)


def _result_of(future, spec: RunSpec, label: str) -> RunOutcome:
    """The worker's outcome, or a failure if the worker process itself died (e.g. killed)."""
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001 - e.g. BrokenProcessPool after an out-of-memory kill
        return RunOutcome(spec, "failed", f"{label}: failed: worker process ended: "
                          f"{type(err).__name__}: {err}")


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
            here or in a local process pool.

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
    threads = None if os.environ.get("OMP_NUM_THREADS") else threads_per_run(jobs)
    print(f"training {len(runs)} runs, {jobs} at a time"
          f"{f', {threads} thread(s) each' if threads else ''}", file=stream)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                             max_tasks_per_child=1) as pool:
        futures = {pool.submit(_pool_worker, threads, spec, cfg, options, label):
                   (spec, label) for spec, cfg, label in runs}
        try:
            for future in as_completed(futures):
                outcomes.append(_result_of(future, *futures[future]))
                print(outcomes[-1].message, file=stream)
        except BaseException:
            end_workers(pool)
            raise
    return outcomes


def end_workers(pool: ProcessPoolExecutor, grace_seconds: float = 2.0) -> None:
    """End a pool's runs now (after Ctrl-C): drop the queued ones, terminate the workers.

    A worker can outlive a Ctrl-C (a library that swallows or ignores ``SIGINT``); the
    pool would then wait for its run to finish at exit, minutes later. Each worker gets
    SIGTERM, then SIGKILL after ``grace_seconds``; a run's last resume checkpoint is
    complete on disk either way (its link moves only after the file is written).
    """
    workers = list((pool._processes or {}).values())  # the pool has no public handle on them
    for worker in workers:
        worker.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace_seconds
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
            worker.join()
