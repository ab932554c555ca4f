"""The results folder before and after training: room for records, and none lost.

Before anything trains, the pre-flight checks that records can be written: the disk of
``--results-dir`` has some room, ``runs/`` is a folder (not a file, a dangling link or a
symlink loop) and no record path is taken by a folder. If writing a record still fails
after training (the disk filled up meanwhile), the record is kept in the run's work dir
(or the temporary folder) and the next ``run`` with the same ``--results-dir`` moves it
into place, so finished training is never lost.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.runs.record import RunRecord

#: Free space ``--results-dir`` needs: records are ~10 kB, leaderboards and plots more.
MIN_FREE_BYTES = 16 * 2**20
UNSAVED = "unsaved-record"
SPARE_FOLDER = "semiseg-unsaved-records"


class RecordNotSaved(BenchmarkError):
    """A finished run's record could not be written to the results folder (it was kept)."""


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def results_dir_problem(results_dir: Path) -> str | None:
    """Why records cannot go to ``results_dir/runs/`` (no room, not a folder), if so."""
    runs = Path(results_dir) / "runs"
    if runs.is_symlink() or runs.exists():
        try:
            is_folder, kind = stat.S_ISDIR(os.stat(runs).st_mode), "a file"
        except OSError as err:  # a symlink loop or a link to nowhere
            is_folder, kind = False, f"a link that cannot be followed ({err.strerror})"
        if not is_folder:
            return (f"--results-dir {results_dir}: runs/ is {kind}; records go into the "
                    f"folder runs/: remove {runs} or pass another --results-dir")
    free = shutil.disk_usage(_existing_ancestor(Path(results_dir))).free
    if free < MIN_FREE_BYTES:
        return (f"--results-dir {results_dir} has {free / 2**20:.1f} MiB free on its disk; "
                f"records and leaderboards need at least {MIN_FREE_BYTES // 2**20} MiB: free "
                "some space or pass another --results-dir")
    return None


def record_path_problem(results_dir: Path, filename: str) -> str | None:
    """Why the record ``filename`` cannot be written into ``results_dir/runs/``, if so."""
    path = Path(results_dir) / "runs" / filename
    if path.is_dir():
        return f"record path {path} is a folder; remove it or pass another --results-dir"
    if path.is_symlink() and not path.exists():
        return (f"record path {path} is a link that cannot be followed; remove it or pass "
                "another --results-dir")
    return None


def save_record(record: RunRecord, results_dir: Path, work_dir: Path) -> Path:
    """Write ``record`` into ``results_dir``; if that fails, keep it for the next command.

    Returns:
        The record's path in ``results_dir/runs/``.

    Raises:
        RecordNotSaved: The record could not be written there; the message names where
            it was kept (``work_dir/unsaved-record/runs/``, else the temporary folder).
    """
    try:
        return record.save(results_dir)
    except OSError as err:
        reason = err.strerror or type(err).__name__
    for spare in (Path(work_dir) / UNSAVED, Path(tempfile.gettempdir()) / SPARE_FOLDER):
        try:
            kept = record.save(spare)
        except OSError:
            continue
        raise RecordNotSaved(
            f"record not written to {Path(results_dir) / 'runs'} ({reason}); kept at {kept}: "
            f"the next `run` with --results-dir {results_dir} moves it there")
    raise RecordNotSaved(f"record not written to {Path(results_dir) / 'runs'} ({reason}), "
                         f"nor into {work_dir} or the temporary folder: mIoU {record.miou:.2f}")


def recover_unsaved_records(work_dirs: list[Path], filenames: list[str],
                            results_dir: Path) -> list[str]:
    """Move records kept by :func:`save_record` into ``results_dir/runs/``.

    Args:
        work_dirs: The planned runs' work dirs.
        filenames: Their record file names (same order).
        results_dir: Where the records belong.

    Returns:
        One line per record moved.
    """
    lines = []
    for work_dir, filename in zip(work_dirs, filenames):
        for spare in (Path(work_dir) / UNSAVED, Path(tempfile.gettempdir()) / SPARE_FOLDER):
            kept = spare / "runs" / filename
            if not kept.is_file():
                continue
            target = Path(results_dir) / "runs" / filename
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(kept, target)
                kept.unlink()
            except OSError as err:
                if err.errno != errno.ENOENT:
                    raise BenchmarkError(f"cannot move the kept record {kept} to {target} "
                                         f"({err.strerror}); free space in --results-dir") \
                        from err
            lines.append(f"record {filename} recovered from {kept}")
    return lines
