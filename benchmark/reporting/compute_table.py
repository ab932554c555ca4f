"""Compute cost per row relative to supervised-only, and mIoU gained per extra cost."""

from __future__ import annotations

import pandas as pd

from benchmark.reporting.formats import Block
from benchmark.reporting.frame import SUPERVISED, ordered_splits

COSTS = {"seconds_per_iter": "s/it", "wall_time_s": "wall min",
         "peak_memory_mb": "peak MB", "images_seen": "images seen (k)"}
DECIMALS = {"s/it": 3, "wall min": 1, "peak MB": 0, "images seen (k)": 1}
TIMING_NOTE = ("timings are as recorded: records carry their thread count (threads; '?' for "
               "records older than the field) but not the machine's load, and the shipped ones "
               "were measured under different conditions (some two runs side by side on one "
               "thread each), so ratios are indicative only.")


def _thread_counts(values: pd.Series) -> str:
    counts = sorted({"?" if pd.isna(v) else str(int(v)) for v in values})
    return "/".join(counts)


def _ratio(values: pd.Series, reference: float | None) -> pd.Series:
    if reference is None or not reference:
        return pd.Series(float("nan"), index=values.index)
    return values / reference


def compute_blocks(runs: pd.DataFrame, protocol: str) -> list[Block]:
    """One block per split: mean cost per row, each cost as a multiple of supervised-only,
    the mIoU difference to supervised-only and that difference per extra wall-clock minute.

    Args:
        runs: One protocol's runs with row labels (``frame.protocol_runs``).
        protocol: Protocol name, for titles and split order.
    """
    blocks = []
    for split in ordered_splits(protocol, runs.split.unique()):
        at_split = runs[runs.split == split]
        means = at_split.groupby("row")[["miou", *COSTS]].mean()
        means["images_seen"] /= 1000
        means["wall_time_s"] /= 60
        reference = means.loc[SUPERVISED] if SUPERVISED in means.index else None
        table = pd.DataFrame(index=means.index)
        for column, label in COSTS.items():
            table[label] = means[column]
            table[f"{label} ×sup"] = _ratio(means[column], None if reference is None
                                            else reference[column])
        if reference is not None:
            gain = means.miou - reference.miou
            extra_minutes = means.wall_time_s - reference.wall_time_s
            table["ΔmIoU vs sup"] = gain
            table["ΔmIoU per extra wall min"] = (gain / extra_minutes).where(
                extra_minutes > 0)
        table.index.name = "method"
        threads = at_split.groupby("row").threads.agg(_thread_counts)
        shown = table.apply(lambda column: column.map(
            lambda v, k=DECIMALS.get(column.name, 2): "" if pd.isna(v) else f"{v:.{k}f}"))
        shown.insert(0, "threads", threads)
        table.insert(0, "threads", threads)
        footnotes = [TIMING_NOTE,
                     "×sup: multiple of supervised-only at the same split; images seen = "
                     "iterations × (labeled + unlabeled batch) × world size; per extra wall "
                     "min is blank where the method is not slower than supervised-only."]
        if reference is None:
            footnotes.append(f"no supervised-only runs at {split}: no ratios.")
        blocks.append(Block(f"{protocol} {split}: compute per run (mean over seeds)", shown,
                            None, footnotes, table.reset_index()))
    return blocks
