"""Sweeps as submitit jobs: one job per (method, split, seed), on Slurm or locally.

Each job runs :func:`benchmark.runs.sweep.attempt_run` (through the same worker entry as
side-by-side runs), so a job reports its run exactly as the in-process path does. submitit
does the submission, the pickling and the job folders; this module submits, waits with a
progress summary, and turns a job that died into a failed outcome naming its log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from mmengine.config import Config

from benchmark.runs.spec import RunSpec

#: ``--executor`` choices that go through submitit.
SUBMITIT_EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class ClusterSettings:
    """Resources of each job (``--slurm-*``); only the time limit applies to ``local``."""

    executor: str = "local"
    partition: str | None = None
    gpus: int = 1
    cpus: int | None = None
    time_min: int = 24 * 60
    poll_seconds: float = 1.0


def job_folder(work_root: Path) -> Path:
    """Where submitit keeps each job's pickles and logs (``%j`` is the job id)."""
    return Path(work_root) / "submitit" / "%j"


def make_executor(settings: ClusterSettings, work_root: Path):
    """A submitit executor for ``settings`` writing its job folders below ``work_root``."""
    import submitit

    executor = submitit.AutoExecutor(folder=str(job_folder(work_root)),
                                     cluster=settings.executor)
    params = dict(timeout_min=settings.time_min, name="benchmark")
    if settings.executor == "slurm":
        params.update(gpus_per_node=settings.gpus, slurm_partition=settings.partition,
                      cpus_per_task=settings.cpus)
        params = {k: v for k, v in params.items() if v is not None}
    executor.update_parameters(**params)
    return executor


def summary_line(total: int, outcomes: list) -> str:
    """``sweep: 2/3 finished (1 done, 1 failed), 1 running``."""
    counts = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    running = total - len(outcomes)
    return (f"sweep: {len(outcomes)}/{total} finished ({parts})"
            f"{f', {running} running' if running else ''}")


def execute_jobs(runs: list[tuple[RunSpec, Config, str]], options, settings: ClusterSettings,
                 threads: int | None, stream) -> list:
    """Submit one job per run, wait for all, and report each as it ends.

    Args:
        runs: (spec, composed config, label) of each run.
        options: The sweep's :class:`~benchmark.runs.sweep.SweepOptions`.
        settings: Executor and resources.
        threads: Intra-op threads per job (None: the job's default).
        stream: Where outcome and summary lines go.

    Returns:
        The outcomes, in the order the jobs ended.
    """
    from benchmark.runs.sweep import RunOutcome, attempt_in_worker

    executor = make_executor(settings, options.work_root)
    pending = {}
    for spec, cfg, label in runs:
        job = executor.submit(attempt_in_worker, threads, spec, cfg, options, label)
        pending[job] = (spec, label)
    print(f"submitted {len(runs)} {settings.executor} job(s) (job folders under "
          f"{job_folder(options.work_root).parent}/)", file=stream)
    outcomes = []
    while pending:
        finished = [job for job in pending if job.done()]
        for job in finished:
            spec, label = pending.pop(job)
            try:
                outcomes.append(job.result())
            except Exception as err:  # noqa: BLE001 - the job died: name its log
                first_line = (str(err).strip().splitlines() or [""])[-1]
                outcomes.append(RunOutcome(spec, "failed", f"{label}: failed: job {job.job_id} "
                                           f"ended: {first_line[:200]} (log: {job.paths.stderr})"))
            print(outcomes[-1].message, file=stream)
        if finished:
            print(summary_line(len(runs), outcomes), file=stream)
        if pending:
            time.sleep(settings.poll_seconds)
    return outcomes
