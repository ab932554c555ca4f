"""One process trains a run: an advisory lock on its work dir that names its holder.

Two commands asked for the same run (same method, split, seed and config hash) would
train into the same work dir, overwriting each other's checkpoints and logs. The process
training a run holds an exclusive ``fcntl.flock`` on ``<work dir>/run.lock`` and writes
its pid, host, start time and command line into it; a second process finds the lock taken
and says who holds it. The kernel releases the lock when the holder ends, even when it is
killed, so a stale file never blocks a rerun. The file is never deleted (deleting a lock
file lets two processes lock different files of the same name).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from benchmark.errors import BenchmarkError

LOCK_NAME = "run.lock"
SHOWN_COMMAND = 120


class WorkDirBusy(BenchmarkError):
    """Another process holds the lock of a run's work dir."""


def _try_lock(handle: IO[str]) -> bool | None:
    """True if locked, False if another process holds it, None if locks are unsupported."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return False
        return None  # e.g. ENOLCK on a file system without locks: train unlocked
    return True


def _holder_text(path: Path) -> str:
    """``pid 42 on host h since 2026-12-02 16:05:01 UTC (`python -m benchmark run ...`)``."""
    try:
        holder = json.loads(path.read_text())
        command = holder["command"]
        if len(command) > SHOWN_COMMAND:
            command = command[:SHOWN_COMMAND - 3] + "..."
        return (f"pid {holder['pid']} on host {holder['host']} since {holder['since']} "
                f"(`{command}`)")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not written its name yet)"


def _busy(work_dir: Path) -> WorkDirBusy:
    return WorkDirBusy(f"work dir {work_dir} is in use by {_holder_text(work_dir / LOCK_NAME)}: "
                       "another command is training this run; wait for it to end or stop "
                       "it, then run again (it resumes from the last checkpoint)")


def _command_line() -> str:
    """This process's command as typed (``python -m benchmark run ...``)."""
    program, *rest = sys.argv or [""]
    if Path(program).name == "__main__.py":
        program = f"-m {Path(program).parent.name}"
    return " ".join(["python", program, *rest]).strip()


@contextmanager
def hold_work_dir(work_dir: Path) -> Iterator[None]:
    """Hold the run's work dir for the duration of the block.

    Args:
        work_dir: The run's work dir (created if missing).

    Raises:
        WorkDirBusy: One line naming the process that holds it (pid, host, start time,
            command).
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / LOCK_NAME
    with open(path, "a+") as handle:  # never truncate before holding the lock
        locked = _try_lock(handle)
        if locked is False:
            raise _busy(work_dir)
        if locked:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({
                "pid": os.getpid(), "host": socket.gethostname(),
                "since": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
                "command": _command_line()}))
            handle.flush()
        try:
            yield
        finally:
            if locked:
                fcntl.flock(handle, fcntl.LOCK_UN)


def check_work_dir_free(work_dir: Path) -> None:
    """Raise if another process holds ``work_dir`` (a probe: nothing is created or kept).

    Raises:
        WorkDirBusy: The line :func:`hold_work_dir` would raise.
    """
    path = Path(work_dir) / LOCK_NAME
    if not path.is_file():
        return
    with open(path) as handle:
        locked = _try_lock(handle)
        if locked is False:
            raise _busy(Path(work_dir))
        if locked:
            fcntl.flock(handle, fcntl.LOCK_UN)
