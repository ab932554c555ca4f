"""Per-class IoU tables: one per split, rows x classes, mean ± std over seeds."""

from __future__ import annotations

import pandas as pd

from benchmark.reporting.cells import best_in_column, mean_std_text, summary_tables
from benchmark.reporting.formats import Block
from benchmark.reporting.frame import ordered_splits


def class_iou(run: pd.Series, metric: str) -> dict[str, float]:
    """A run's IoU per class at the final checkpoint or at its best validation.

    The best validation's values come from ``val_history`` (``IoU.<class>`` at
    ``best_iter``); a run without that entry gives an empty dict.
    """
    if metric == "final":
        return dict(run.per_class_iou)
    for entry in run.val_history:
        if entry.get("iter") == run.best_iter:
            return {key[len("IoU."):]: value for key, value in entry.items()
                    if key.startswith("IoU.")}
    return {}


def class_frame(runs: pd.DataFrame, metric: str = "final") -> pd.DataFrame:
    """Long form: one row per (run, class) with columns row, split, seed, cls, iou."""
    rows = [dict(row=run.row, split=run.split, seed=run.seed, cls=cls, iou=iou)
            for _, run in runs.iterrows() for cls, iou in class_iou(run, metric).items()]
    return pd.DataFrame(rows, columns=["row", "split", "seed", "cls", "iou"])


def class_blocks(runs: pd.DataFrame, protocol: str, metric: str = "final") -> list[Block]:
    """One block per split with per-class IoU, best per class emphasised.

    Args:
        runs: One protocol's runs with row labels (``frame.protocol_runs``).
        protocol: Protocol name, for titles and split order.
        metric: ``final`` or ``best`` (per-class IoU at each run's best validation).
    """
    per_class = class_frame(runs, metric)
    label = "final checkpoint" if metric == "final" else "best validation (optimistic)"
    blocks = []
    for split in ordered_splits(protocol, per_class.split.unique()):
        at_split = per_class[per_class.split == split]
        classes = list(dict.fromkeys(at_split.cls))
        summary = at_split.groupby(["row", "cls"]).iou.agg(mean="mean", std="std", n="count")
        summary.index = summary.index.set_names(["row", "split"])
        means, stds, counts = summary_tables(summary, classes)
        table = pd.DataFrame("", index=means.index, columns=classes)
        for row in means.index:
            for cls in classes:
                if pd.notna(means.loc[row, cls]):
                    table.loc[row, cls] = mean_std_text(means.loc[row, cls], stds.loc[row, cls],
                                                        int(counts.loc[row, cls]))
        data = summary.reset_index().rename(columns={"row": "method", "split": "class"})
        blocks.append(Block(f"{protocol} {split}: IoU (%) per class, {label}, mean ± std "
                            "over seeds", table, best_in_column(means),
                            ["bold: best mean in the column."], data.assign(split=split)))
    return blocks
