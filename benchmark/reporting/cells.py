"""Cell text and best-in-column marks shared by the report tables."""

from __future__ import annotations

import math

import pandas as pd

METRIC_COLUMNS = {"final": "miou", "best": "best_miou"}


def mean_std_text(mean: float, std: float, n: int, diverged: int = 0) -> str:
    """``mean ± std (n=k)``, or ``mean (n=1)`` when one seed gives no spread.

    Args:
        mean: Mean over the runs with a value.
        std: Their sample standard deviation (NaN for one run).
        n: Number of runs with a value.
        diverged: Runs of the cell without a value (NaN mIoU: the run diverged); shown as
            ``(n=2 of 3, 1 diverged)``, and ``diverged (n=0 of 3)`` when none has a value.
    """
    count = f"n={n} of {n + diverged}, {diverged} diverged" if diverged else f"n={n}"
    if n == 0:
        return f"diverged (n=0 of {diverged})"
    if n < 2 or math.isnan(std):
        return f"{mean:.2f} ({count})"
    return f"{mean:.2f} ± {std:.2f} ({count})"


def best_in_column(means: pd.DataFrame) -> pd.DataFrame:
    """True where a cell's mean, at the two decimals shown, is its column's maximum."""
    shown = means.round(2)
    return shown.eq(shown.max()) & shown.notna()


def summary_tables(summary: pd.DataFrame, splits: list[str]) -> tuple[pd.DataFrame, ...]:
    """Pivot a (row, split) summary into ``row x split`` frames of mean, std and n."""
    pivots = [summary[col].unstack("split").reindex(columns=splits)
              for col in ("mean", "std", "n")]
    for pivot in pivots:
        pivot.index.name = "method"
    return tuple(pivots)
