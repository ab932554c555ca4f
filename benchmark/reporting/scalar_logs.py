"""MMEngine's scalar logs (``<work_dir>/<timestamp>/vis_data/scalars.json``) of a run.

Work dirs are not part of the shipped results: a record's log is found only on the
machine that trained it (or wherever its work dir was copied), and callers say so when
it is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

VAL_KEY = "mIoU"


def work_dir_candidates(work_dir: str, results_dir: Path) -> list[Path]:
    """Where a record's work dir may be: as written (absolute or relative to the current
    folder), or relative to the folder holding ``results_dir``."""
    if not work_dir:
        return []
    path = Path(work_dir)
    if path.is_absolute():
        return [path]
    return list(dict.fromkeys([Path.cwd() / path, Path(results_dir).resolve().parent / path]))


def read_scalars(path: Path) -> pd.DataFrame:
    """One MMEngine ``scalars.json`` (JSON lines) as a frame with a ``step`` column."""
    return pd.read_json(path, lines=True)


def _matches(scalars: pd.DataFrame, val_history: list[dict]) -> bool:
    """True when the log's last validation matches the record's (same step, same mIoU)."""
    if not val_history:
        return True
    last = val_history[-1]
    if VAL_KEY not in scalars or "step" not in scalars:
        return False
    logged = scalars[(scalars.step == last.get("iter")) & scalars[VAL_KEY].notna()]
    return any(math.isclose(v, last.get(VAL_KEY, math.nan), abs_tol=1e-6)
               for v in logged[VAL_KEY])


def run_scalars(work_dir: str, results_dir: Path, val_history: list[dict]) -> pd.DataFrame | None:
    """The scalar log of the run a record describes, or None when none is found.

    One work dir can hold the logs of several runs (e.g. two configs of one method and
    seed); the log whose last validation equals the record's is taken, the newest first.

    Args:
        work_dir: The record's ``work_dir``.
        results_dir: The results folder the record was read from.
        val_history: The record's ``val_history`` (used to recognise its log).
    """
    for folder in work_dir_candidates(work_dir, results_dir):
        for path in sorted(folder.glob("*/vis_data/scalars.json"), reverse=True):
            try:
                scalars = read_scalars(path)
            except ValueError:
                continue
            if _matches(scalars, val_history):
                return scalars
    return None
