"""Side-by-side runs in worker processes the sweep owns, all ended by one Ctrl-C.

The standard library's ``ProcessPoolExecutor`` has no public handle on its workers, and
at interpreter exit it joins its manager thread, which waits for every worker; a worker
that outlives a Ctrl-C (or the loader processes it forked, which hold the console and the
run's work-dir lock) kept the sweep waiting after "interrupted". What it lacks, written
here by hand:

* one ``spawn`` process per task (a fresh interpreter), at most ``jobs`` at once, each
  sending its result back over its own pipe;
* each worker leads its own process group, so its loader processes can be ended with it,
  and a Ctrl-C at the terminal reaches only the sweep's process, which decides;
* each worker ends when the sweep's process ends (Linux ``PR_SET_PDEATHSIG``, which
  follows the thread that started the worker: here always the caller's, where the pool
  started replacement workers from its manager thread);
* on any interruption, every worker's group gets SIGTERM, then SIGKILL after a grace
  period, and every worker is reaped before the interruption goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

#: Seconds a worker has to end after SIGTERM before its process group gets SIGKILL.
GRACE_SECONDS = 2.0

_NOTHING = object()  # no result received (a task may return None)


@dataclass(frozen=True)
class WorkerEnded:
    """A worker that ended without sending a result (killed, out of memory, crashed).

    Attributes:
        exitcode: The process's exit code; ``-N`` when signal ``N`` ended it.
    """

    exitcode: int | None

    def __str__(self) -> str:
        if self.exitcode is not None and self.exitcode < 0:
            return f"killed by {signal.Signals(-self.exitcode).name}"
        return f"exit code {self.exitcode} without a result"


@dataclass
class _Worker:
    """One started task: its process, the read end of its result pipe, its result."""

    index: int
    process: multiprocessing.process.BaseProcess
    results: Connection
    reported: bool = False
    pipe_closed: bool = False


def end_with_parent() -> None:
    """Have the kernel end this process with SIGTERM when the process that started it ends.

    A side-by-side worker must not outlive its sweep: killed with SIGTERM, the sweep's
    process would otherwise leave its workers training and writing records as orphans.
    The standard library has no such option, so this sets Linux's ``PR_SET_PDEATHSIG`` by
    hand (no-op on other systems). The interrupted run keeps its last resume checkpoint.
    If the parent is already gone, the process ends at once.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = multiprocessing.parent_process()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


def _worker_main(results: Connection, task: Callable, args: tuple) -> None:
    """Entry of a worker: own process group, end with the parent, send ``task(*args)``."""
    os.setpgid(0, 0)
    end_with_parent()
    results.send(task(*args))
    results.close()


def _start(context, index: int, task: Callable, args: tuple, running: list[_Worker]) -> None:
    """Start the worker of task ``index``; the parent keeps only the pipe's read end.

    The worker joins ``running`` before it starts, so an interruption while it starts
    still ends it.
    """
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_worker_main, args=(writer, task, args),
                              name=f"side-by-side-{index}")
    running.append(_Worker(index, process, reader))
    process.start()
    writer.close()


def _receive(worker: _Worker) -> object:
    """The worker's result if one is waiting in its pipe, else ``_NOTHING``."""
    if worker.pipe_closed or not worker.results.poll():
        return _NOTHING
    try:
        return worker.results.recv()
    except (EOFError, OSError):  # it ended without sending
        worker.pipe_closed = True
        return _NOTHING


def _report_news(running: list[_Worker], on_end: Callable[[int, object], None]) -> None:
    """Wait until some worker sends a result or exits; report it, reap exited workers.

    Exits are seen on the sentinels, which do not reap: a worker is reaped (its pid freed)
    only as it leaves ``running``, so :func:`end_workers` never signals a reused pid.
    """
    handles = [w.process.sentinel for w in running]
    handles += [w.results for w in running if not (w.reported or w.pipe_closed)]
    ready = wait(handles)
    for worker in list(running):
        exited = worker.process.sentinel in ready
        result = _NOTHING if worker.reported else _receive(worker)
        if exited:
            worker.process.join()
            worker.results.close()
            running.remove(worker)
            if result is _NOTHING and not worker.reported:
                result = WorkerEnded(worker.process.exitcode)
        if result is not _NOTHING:
            worker.reported = True
            on_end(worker.index, result)


def _signal_groups(workers: Sequence[_Worker], signum: int) -> None:
    """Send ``signum`` to each worker and its process group (its loader processes).

    Only workers not yet reaped are passed, so their pids (and group ids) are still theirs.
    """
    for worker in workers:
        pid = worker.process.pid
        if pid is None:
            continue
        for send in (os.killpg, os.kill):  # the group exists once the worker made it
            try:
                send(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass


def end_workers(running: list[_Worker], grace_seconds: float = GRACE_SECONDS) -> None:
    """End every started worker now: SIGTERM, SIGKILL after ``grace_seconds``, reap.

    A run's last resume checkpoint and its record are complete on disk either way (both
    are written to a temporary name and moved), and the kernel releases its work-dir
    lock once the last process of its group holding the file has ended.
    """
    _signal_groups(running, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    alive = [w.process.sentinel for w in running if w.process.pid is not None]
    try:
        while alive and (left := deadline - time.monotonic()) > 0:
            for ended in wait(alive, timeout=left):
                alive.remove(ended)
    except KeyboardInterrupt:  # a second Ctrl-C: no more grace
        pass
    _signal_groups(running, signal.SIGKILL)  # also loader processes that outlived their run
    for worker in running:
        if worker.process.pid is not None:
            worker.process.join()
        worker.results.close()


def run_side_by_side(tasks: Sequence[tuple[Callable, tuple]], jobs: int,
                     on_end: Callable[[int, object], None],
                     grace_seconds: float = GRACE_SECONDS) -> None:
    """Run each ``task(*args)`` in its own spawned process, at most ``jobs`` at once.

    Tasks start in order; the next starts when a worker exits.

    Args:
        tasks: ``(task, args)`` pairs; the task, its arguments and its result must pickle.
        jobs: Workers alive at the same time.
        on_end: Called in this process as each task ends, in the order they end, with the
            task's index and its result, or a :class:`WorkerEnded` if its process ended
            without one.
        grace_seconds: Time each worker has after SIGTERM on an interruption.

    Raises:
        BaseException: Whatever interrupted the waiting (``KeyboardInterrupt``), after
            every worker this call started has ended.
    """
    context = multiprocessing.get_context("spawn")
    waiting = deque(enumerate(tasks))
    running: list[_Worker] = []
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                index, (task, args) = waiting.popleft()
                _start(context, index, task, args, running)
            _report_news(running, on_end)
    except BaseException:
        end_workers(running, grace_seconds)
        raise
