"""Published numbers (``published_numbers.csv``) shown beside ours, never in our columns."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from benchmark.backbone_names import (
    DEEPLAB_NETWORK,
    DPT_NETWORK,
    TIMM_PREFIX,
    dinov2_size,
    resnet_depth,
)
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


def published_backbone(network: str, backbone: str) -> str | None:
    """A record's network and backbone as the registry names them, None if it has no name.

    ``deeplabv3plus`` + ``r101`` (or ``ResNetV1c-101``) -> ``DeepLabv3+ R101``;
    ``vit_dpt`` + ``timm:vit_base_patch14_dinov2`` -> ``DPT DINOv2-B``. Records older
    than the ``network`` field trained DeepLabv3+.
    """
    if (network or DEEPLAB_NETWORK) == DEEPLAB_NETWORK:
        depth = resnet_depth(backbone)
        return f"DeepLabv3+ R{depth}" if depth else None
    if network == DPT_NETWORK and backbone.startswith(TIMM_PREFIX):
        size = dinov2_size(backbone[len(TIMM_PREFIX):])
        return f"DPT DINOv2-{size.upper()}" if size else None
    return None


def _ours(runs: pd.DataFrame, method: str, split: str, backbone: str) -> pd.Series | None:
    """Mean, std and n of our default-options row of ``method`` on the published backbone.

    Args:
        runs: Our runs with a ``published_backbone`` column (:func:`published_backbone`).
        method: The published entry's method.
        split: Its split.
        backbone: Its network and backbone, as the registry names them.

    Where several such rows exist (e.g. schedules), the one with the most seeds is used.
    """
    if runs.empty:
        return None
    cell = runs[(runs.method == method) & (runs.split == split) & (runs.options == "")
                & (runs.published_backbone == backbone)]
    if cell.empty:
        return None
    summary = summarize(cell, "miou")
    return summary.sort_values("n", ascending=False, kind="stable").iloc[0] \
        if not summary.empty else None


def published_block(runs: pd.DataFrame, protocol: str) -> Block | None:
    """Published numbers of one protocol with ours and the reproduction gap beside them.

    Args:
        runs: Our runs of the protocol with row labels (``frame.protocol_runs``); may be
            empty.
        protocol: Protocol name.

    Returns:
        A block, or None when nothing is published for the protocol. ``ours`` is the
        final-checkpoint mean of our row of the method with default options on the same
        network and backbone (:func:`published_backbone`), ``gap`` is ours minus
        published; the papers mostly report best-over-validations.
    """
    published = published_numbers()
    published = published[published.protocol == protocol]
    if published.empty:
        return None
    sources = sorted(published.source.unique())
    split_rank = {s: k for k, s in enumerate(ordered_splits(protocol, published.split))}
    published = published.assign(rank=published.split.map(split_rank)).sort_values(
        ["method", "rank", "backbone", "source"])
    if not runs.empty:
        runs = runs.assign(published_backbone=[published_backbone(n, b) for n, b in
                                               zip(runs.network, runs.backbone)])
    rows, data = [], []
    for entry in published.itertuples():
        mine = _ours(runs, entry.method, entry.split, entry.backbone)
        has_ours = mine is not None
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
    footnotes.append("ours: our final-checkpoint mean of the method's default row on the "
                     "same network and backbone; gap: ours minus the published value. "
                     "Published values are mostly best over validations and use other "
                     "schedules, so a gap is a reproduction check, not a ranking.")
    title = f"{protocol}: published mIoU (%), a separate block; never mixed into our rows"
    return Block(title, table, None, footnotes, pd.DataFrame(data))
