"""Cell text and best-in-column marks shared by the report tables."""

from __future__ import annotations

import math

import pandas as pd

METRIC_COLUMNS = {"final": "miou", "best": "best_miou"}


def mean_std_text(mean: float, std: float, n: int) -> str:
    """``mean ± std (n=k)``, or ``mean (n=1)`` when one seed gives no spread."""
    if n < 2 or math.isnan(std):
        return f"{mean:.2f} (n={n})"
    return f"{mean:.2f} ± {std:.2f} (n={n})"


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
