"""Published numbers (``published_numbers.csv``) shown beside ours, never in our columns."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from benchmark.reporting.cells import mean_std_text
from benchmark.reporting.formats import Block
from benchmark.reporting.frame import ordered_splits, summarize

PUBLISHED_FILE = Path(__file__).with_name("published_numbers.csv")
COLUMNS = ("method", "protocol", "split", "backbone", "miou", "source", "note")


@lru_cache(maxsize=1)
def published_numbers(path: Path = PUBLISHED_FILE) -> pd.DataFrame:
    """The registry of published mIoU values (one row per method, protocol, split,
    backbone and source), split names as strings."""
    table = pd.read_csv(path, dtype={"split": str}, keep_default_na=False)
    return table[list(COLUMNS)]


def published_block(runs: pd.DataFrame, protocol: str) -> Block | None:
    """Published numbers of one protocol with ours and the reproduction gap beside them.

    Args:
        runs: Our runs of the protocol with row labels (``frame.protocol_runs``); may be
            empty.
        protocol: Protocol name.

    Returns:
        A block, or None when nothing is published for the protocol. ``ours`` is the
        final-checkpoint mean of the row named exactly like the method, ``gap`` is
        ours minus published; the papers mostly report best-over-validations.
    """
    published = published_numbers()
    published = published[published.protocol == protocol]
    if published.empty:
        return None
    ours = summarize(runs, "miou") if not runs.empty else pd.DataFrame()
    sources = sorted(published.source.unique())
    split_rank = {s: k for k, s in enumerate(ordered_splits(protocol, published.split))}
    published = published.assign(rank=published.split.map(split_rank)).sort_values(
        ["method", "rank", "backbone", "source"])
    rows, data = [], []
    for entry in published.itertuples():
        key = (entry.method, entry.split)
        has_ours = not ours.empty and key in ours.index
        mine = ours.loc[key] if has_ours else None
        gap = mine["mean"] - entry.miou if has_ours else None
        rows.append(dict(method=entry.method, split=entry.split, backbone=entry.backbone,
                         published=f"{entry.miou:.2f}",
                         source=f"[{sources.index(entry.source) + 1}]",
                         note=entry.note,
                         ours=mean_std_text(mine["mean"], mine["std"], int(mine["n"]))
                         if has_ours else "",
                         gap=f"{gap:+.2f}" if has_ours else ""))
        data.append(dict(method=entry.method, split=entry.split, backbone=entry.backbone,
                         published=entry.miou, source=entry.source, note=entry.note,
                         ours_mean=mine["mean"] if has_ours else None,
                         ours_n=int(mine["n"]) if has_ours else None, gap=gap))
    table = pd.DataFrame(rows).set_index("method")
    footnotes = [f"[{k}] {source}" for k, source in enumerate(sources, start=1)]
    footnotes.append("gap: our final-checkpoint mean minus the published value; published "
                     "values are mostly best over validations and use other backbones and "
                     "schedules, so a gap is a reproduction check, not a ranking.")
    title = f"{protocol}: published mIoU (%), a separate block; never mixed into our rows"
    return Block(title, table, None, footnotes, pd.DataFrame(data))
