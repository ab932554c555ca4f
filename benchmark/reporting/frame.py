"""Run records as a pandas frame, leaderboard row names, and per-cell aggregation."""

from __future__ import annotations

import re

import pandas as pd

from benchmark.protocols import FULL_SPLIT, PROTOCOLS
from benchmark.runs.config_builder import NON_EXPERIMENTAL_KEYS
from benchmark.runs.record import RunRecord

SUPERVISED = "supervised"


def experimental_options(cfg_options: dict) -> str:
    """The ``--cfg-options`` of a record that change results, as ``key=value`` text.

    Options on the keys the config hash leaves out (data location, loader speed) never
    name a leaderboard row.
    """
    return " ".join(f"{k}={v}" for k, v in sorted(cfg_options.items())
                    if k.rsplit(".", 1)[-1] not in NON_EXPERIMENTAL_KEYS)


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run with the columns the tables and plots need."""
    rows = [dict(protocol=r.protocol, split=r.split, method=r.method, seed=r.seed,
                 miou=r.miou, best_miou=r.best_miou, config_hash=r.config_hash[:8],
                 iterations=r.iterations, seconds_per_iter=r.seconds_per_iter,
                 options=experimental_options(r.cfg_options),
                 images_seen=r.iterations * (r.labeled_batch + r.unlabeled_batch)
                 * r.world_size,
                 train_time_s=r.train_time_s, wall_time_s=r.wall_time_s,
                 peak_memory_mb=r.peak_memory_mb, per_class_iou=r.per_class_iou,
                 best_iter=r.best_iter, val_history=r.val_history,
                 diagnostics=r.diagnostics, work_dir=r.work_dir,
                 threads=getattr(r, "threads", None), cpu=getattr(r, "cpu", None),
                 eval_mode=getattr(r, "eval_mode", "") or "",
                 labeled_batch=r.labeled_batch, unlabeled_batch=r.unlabeled_batch,
                 evaluated_network=r.evaluated_network,
                 backbone=getattr(r, "backbone", None) or "",
                 network=getattr(r, "network", None) or "")
            for r in records]
    return pd.DataFrame(rows)


def row_labels(frame: pd.DataFrame) -> pd.Series:
    """Row label per run of one protocol: the method, made specific only where configs mix.

    The config hash covers the split, so a method always has one hash per split; rows
    are therefore split only where one (method, split) cell holds several hashes. Such a
    method's rows are named by what the user varied: the backbone (where the method has
    runs on several), iterations, then ``--cfg-options``, and the hash prefix as a last
    resort (e.g. code or dataset changed, same options). A method run only with
    experimental ``--cfg-options`` is named by them too, so a row never shows options
    under the bare method name.
    """
    hashes_per_cell = frame.groupby(["method", "split"])["config_hash"].nunique()
    mixed = set(hashes_per_cell[hashes_per_cell > 1].index.get_level_values("method"))
    backbones = frame.get("backbone", pd.Series("", index=frame.index)).fillna("")
    named = backbones != ""  # records older than the backbone field name none
    counts = backbones[named].groupby(frame.method[named]).nunique()
    several_backbones = set(counts[counts > 1].index)

    def variant(row: pd.Series) -> str:
        if row.method not in mixed and not row.options:
            return row.method
        backbone = backbones[row.name]
        on = f"{backbone}, " if row.method in several_backbones and backbone else ""
        options = f", {row.options}" if row.options else ""
        return f"{row.method} [{on}{row.iterations} it{options}]"

    # one label per config hash (its first run's), so runs of one config never split
    labels = frame.apply(variant, axis=1).groupby(
        [frame.method, frame.config_hash]).transform("first")
    still_mixed = frame.assign(row=labels).groupby(["row", "split"])["config_hash"] \
        .transform("nunique") > 1
    return labels.where(~still_mixed, labels + " #" + frame.config_hash)


def protocol_runs(frame: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """One protocol's runs with their leaderboard row label in column ``row``."""
    part = frame[frame.protocol == protocol].copy()
    if not part.empty:
        part["row"] = row_labels(part)
    return part


def ordered_splits(protocol: str, splits) -> list[str]:
    """The given splits in the protocol's order (alphabetical for unknown protocols)."""
    present = set(splits)
    if protocol in PROTOCOLS:
        known = [s for s in PROTOCOLS[protocol].split_names if s in present]
        return known + sorted(present - set(known))
    return sorted(present)


def summarize(runs: pd.DataFrame, value: str = "miou") -> pd.DataFrame:
    """Mean, sample standard deviation and number of seeds per (row, split).

    Args:
        runs: Output of :func:`protocol_runs`.
        value: Column to aggregate (``miou``, ``best_miou``, a timing column...).

    Returns:
        Frame indexed by (row, split) with columns ``mean``, ``std`` (NaN for n=1), ``n``.
    """
    grouped = runs.dropna(subset=[value]).groupby(["row", "split"])[value]
    return grouped.agg(mean="mean", std="std", n="count")


def seed_values(runs: pd.DataFrame, row: str, split: str, value: str = "miou") -> pd.Series:
    """A row's values at one split indexed by seed (seeds run twice are averaged)."""
    cell = runs[(runs.row == row) & (runs.split == split)]
    return cell.groupby("seed")[value].mean()


def labeled_fraction(protocol: str, split: str) -> float | None:
    """The fraction of the label pool a split labels, or None when it cannot be told.

    ``1_8`` and ``u2pl_1_8`` are 1/8, ``full`` is 1; a split named by an image count
    (Pascal classic ``92``) is that count over the protocol's largest such count.
    """
    if split == FULL_SPLIT:
        return 1.0
    match = re.fullmatch(r"(?:[a-z0-9]+_)?1_(\d+)", split)
    if match:
        return 1.0 / int(match.group(1))
    if split.isdigit() and protocol in PROTOCOLS:
        counts = [int(s) for s in PROTOCOLS[protocol].partitions if s.isdigit()]
        return int(split) / max(counts) if counts else None
    return None
