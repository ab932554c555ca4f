"""Label-efficiency curve: mIoU against the labeled fraction, one line per method."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from benchmark.reporting.frame import labeled_fraction, summarize
from benchmark.reporting.plots.output import label_axes, new_figure

DODGE = 0.015  # log2 units between neighbouring series


def efficiency_points(runs: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Mean, std and n of the final mIoU per (row, split) with the split's labeled fraction.

    Splits whose fraction cannot be told are left out.
    """
    summary = summarize(runs, "miou").reset_index()
    summary["fraction"] = [labeled_fraction(protocol, s) for s in summary.split]
    return summary.dropna(subset=["fraction"]).sort_values(["row", "fraction"])


def label_efficiency_figure(runs: pd.DataFrame, protocol: str) -> Figure:
    """mIoU (mean over seeds, error bar = std) against the labeled fraction (log scale).

    Args:
        runs: One protocol's runs with row labels (``frame.protocol_runs``).
        protocol: Protocol name, for the title and the fractions.

    Returns:
        A figure with one error-bar series per row, labelled by the row name; a row run
        at one split is a single point.
    """
    points = efficiency_points(runs, protocol)
    figure, axes = new_figure(7.5, 4.5)
    groups = list(points.groupby("row", sort=True))
    for k, (row, line) in enumerate(groups):
        # dodge: shift each series a little along the log axis so error bars do not overlap
        dodge = 2.0 ** (DODGE * (k - (len(groups) - 1) / 2))
        axes.errorbar(line.fraction * dodge, line["mean"], yerr=line["std"].fillna(0.0), label=row,
                      marker="o", capsize=3)
    fractions = sorted(points.fraction.unique())
    axes.set_xscale("log", base=2)
    axes.set_xticks(fractions, [_fraction_text(f) for f in fractions])
    label_axes(axes, "labeled fraction", "mIoU (%), final checkpoint",
               f"{protocol}: label efficiency (mean ± std over seeds)")
    return figure


def _fraction_text(fraction: float) -> str:
    return "full" if fraction == 1.0 else f"1/{round(1 / fraction)}" \
        if abs(1 / fraction - round(1 / fraction)) < 1e-9 else f"{fraction:.3g}"
