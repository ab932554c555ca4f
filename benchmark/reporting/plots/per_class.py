"""Per-class IoU bars: classes on the x axis, one bar series per method."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmark.reporting.class_table import class_frame
from benchmark.reporting.plots.output import label_axes, new_figure


def per_class_figure(runs: pd.DataFrame, protocol: str, split: str) -> Figure:
    """Final per-class IoU (mean over seeds, error bar = std) of every row at one split.

    Args:
        runs: One protocol's runs with row labels (``frame.protocol_runs``).
        protocol: Protocol name, for the title.
        split: Split to show.

    Returns:
        A figure with one bar container per row (labelled by the row name), one bar per
        class.
    """
    per_class = class_frame(runs[runs.split == split])
    classes = list(dict.fromkeys(per_class.cls))
    stats = per_class.groupby(["row", "cls"]).iou.agg(["mean", "std"])
    rows = sorted(per_class.row.unique())
    figure, axes = new_figure(max(6.4, 1.2 * len(classes) + 3), 4.5)
    width = 0.8 / max(len(rows), 1)
    positions = np.arange(len(classes))
    for k, row in enumerate(rows):
        cells = stats.loc[row].reindex(classes)
        axes.bar(positions + (k - (len(rows) - 1) / 2) * width, cells["mean"].fillna(0.0),
                 width, yerr=cells["std"].fillna(0.0), label=row, capsize=2)
    axes.set_xticks(positions, classes)
    label_axes(axes, "class", "IoU (%), final checkpoint",
               f"{protocol} {split}: IoU per class (mean ± std over seeds)", grid=False)
    return figure
