"""Training curves: validation mIoU (records), loss terms and pseudo-label diagnostics
(MMEngine scalar logs), averaged over seeds, one line per method."""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from benchmark.reporting.plots.output import label_axes, new_figure, new_grid

DIAGNOSTICS = {"diag.pseudo_label_acc": "pseudo-label accuracy",
               "diag.changed_fraction": "fraction of pseudo-labels changed by the perturbation"}


def validation_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Long form of the records' ``val_history``: row, seed, iter, mIoU."""
    rows = [dict(row=run.row, seed=run.seed, iter=entry["iter"], miou=entry["mIoU"])
            for _, run in runs.iterrows() for entry in run.val_history
            if "iter" in entry and "mIoU" in entry]
    return pd.DataFrame(rows, columns=["row", "seed", "iter", "miou"])


def validation_figure(runs: pd.DataFrame, protocol: str, split: str) -> Figure:
    """Validation mIoU over iterations (mean over seeds) of every row at one split."""
    history = validation_frame(runs[runs.split == split])
    curves = history.groupby(["row", "iter"]).miou.mean()
    figure, axes = new_figure(7.5, 4.5)
    for row in sorted(history.row.unique()):
        axes.plot(curves.loc[row].index, curves.loc[row].values, marker="o", label=row)
    label_axes(axes, "iteration", "validation mIoU (%)",
               f"{protocol} {split}: validation mIoU during training (mean over seeds)")
    return figure


def mean_curves(logs: dict[str, list[pd.DataFrame]], keys) -> dict[str, pd.DataFrame]:
    """Per row, the mean over its seeds' logs of the given scalar keys by ``step``.

    Args:
        logs: Row name -> scalar logs of its runs (``scalar_logs.run_scalars``).
        keys: A predicate on column names selecting the scalars.

    Returns:
        Row name -> frame indexed by step with one column per selected key (rows whose
        logs have none of the keys are left out).
    """
    curves = {}
    for row, frames in sorted(logs.items()):
        selected = [f.set_index("step")[[c for c in f.columns if keys(c)]].dropna(how="all")
                    for f in frames if "step" in f]
        selected = [s for s in selected if not s.empty]
        if selected:
            curves[row] = pd.concat(selected).groupby(level=0).mean()
    return curves


def loss_figure(logs: dict[str, list[pd.DataFrame]], protocol: str, split: str) -> Figure | None:
    """One panel per row with its ``sup.loss_*`` and ``unsup.loss_*`` terms over iterations.

    Returns:
        The figure, or None when no log holds a loss term.
    """
    curves = mean_curves(logs, lambda c: c.startswith(("sup.loss", "unsup.loss")))
    if not curves:
        return None
    columns = min(3, len(curves))
    rows = math.ceil(len(curves) / columns)
    figure, flat = new_grid(4.0 * columns, 2.8 * rows, rows, columns)
    for panel, (row, curve) in zip(flat, curves.items()):
        for key in curve.columns:
            panel.plot(curve.index, curve[key], label=key)
        label_axes(panel, "iteration", "loss", row, legend_outside=False, grid=False)
    for panel in flat[len(curves):]:
        panel.set_visible(False)
    figure.suptitle(f"{protocol} {split}: loss terms (mean over seeds' logs)")
    return figure


def diagnostics_figure(logs: dict[str, list[pd.DataFrame]], protocol: str,
                       split: str) -> Figure | None:
    """Pseudo-label accuracy and changed-label fraction over iterations, per row logging them.

    Returns:
        The figure (one panel per diagnostic that some row logs), or None when none does.
    """
    panels = {key: mean_curves(logs, lambda c, key=key: c == key) for key in DIAGNOSTICS}
    panels = {key: curves for key, curves in panels.items() if curves}
    if not panels:
        return None
    figure, axes = new_grid(6.4 * len(panels), 4.0, 1, len(panels))
    for panel, (key, curves) in zip(axes, panels.items()):
        for row, curve in curves.items():
            panel.plot(curve.index, curve[key], label=row)
        label_axes(panel, "iteration", key, DIAGNOSTICS[key], legend_outside=False)
    figure.suptitle(f"{protocol} {split}: pseudo-label diagnostics (mean over seeds' logs)")
    return figure
