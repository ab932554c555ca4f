"""Leaderboards from run records: methods x splits, mean +/- std over seeds (n shown)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark.protocols import PROTOCOLS
from benchmark.runs.config_builder import NON_EXPERIMENTAL_KEYS
from benchmark.runs.record import RunRecord


def experimental_options(cfg_options: dict) -> str:
    """The ``--cfg-options`` of a record that change results, as ``key=value`` text.

    Options on the keys the config hash leaves out (data location, loader speed) never
    name a leaderboard row.
    """
    return " ".join(f"{k}={v}" for k, v in sorted(cfg_options.items())
                    if k.rsplit(".", 1)[-1] not in NON_EXPERIMENTAL_KEYS)


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run with the columns the tables need."""
    rows = [dict(protocol=r.protocol, split=r.split, method=r.method, seed=r.seed,
                 miou=r.miou, best_miou=r.best_miou, config_hash=r.config_hash[:8],
                 iterations=r.iterations, seconds_per_iter=r.seconds_per_iter,
                 options=experimental_options(r.cfg_options))
            for r in records]
    return pd.DataFrame(rows)


def _cell(values: pd.Series) -> str:
    n = len(values)
    if n == 1:
        return f"{values.iloc[0]:.2f} (n=1)"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} (n={n})"


def _row_labels(frame: pd.DataFrame) -> pd.Series:
    """Row label per run: the method name, made specific only where configs would mix.

    The config hash covers the split, so a method always has one hash per split; rows
    are therefore split only where one (method, split) cell holds several hashes. Such a
    method's rows are named by what the user varied: iterations, then ``--cfg-options``,
    and the hash prefix as a last resort (e.g. code or dataset changed, same options).
    """
    hashes_per_cell = frame.groupby(["method", "split"])["config_hash"].nunique()
    mixed = set(hashes_per_cell[hashes_per_cell > 1].index.get_level_values("method"))

    def variant(row: pd.Series) -> str:
        if row.method not in mixed:
            return row.method
        options = f", {row.options}" if row.options else ""
        return f"{row.method} [{row.iterations} it{options}]"

    # one label per config hash (its first run's), so runs of one config never split
    labels = frame.apply(variant, axis=1).groupby(
        [frame.method, frame.config_hash]).transform("first")
    still_mixed = frame.assign(row=labels).groupby(["row", "split"])["config_hash"] \
        .transform("nunique") > 1
    return labels.where(~still_mixed, labels + " #" + frame.config_hash)


def leaderboard(frame: pd.DataFrame, protocol: str, value: str = "miou") -> pd.DataFrame:
    """Pivot one protocol's runs into ``method x split`` cells of mean +/- std (n).

    Args:
        frame: Output of :func:`records_frame`.
        protocol: Protocol to tabulate.
        value: ``"miou"`` (final checkpoint) or ``"best_miou"`` (best over validations).
    """
    part = frame[frame.protocol == protocol].copy()
    if part.empty:
        return pd.DataFrame()
    part["row"] = _row_labels(part)
    table = part.groupby(["row", "split"])[value].apply(_cell).unstack("split")
    order = [s for s in PROTOCOLS[protocol].split_names if s in table.columns] \
        if protocol in PROTOCOLS else sorted(table.columns)
    table = table[order].fillna("")
    table.index.name = "method"
    return table


def render(records: list[RunRecord], out_dir: Path | None = None) -> str:
    """Render every protocol's leaderboards as text; also write Markdown and CSV files.

    Args:
        records: Run records.
        out_dir: If given, ``leaderboard_<protocol>.md`` and ``.csv`` are written there.

    Returns:
        The text printed to the terminal.
    """
    if not records:
        return "no run records found"
    frame = records_frame(records)
    chunks = []
    for protocol in sorted(frame.protocol.unique()):
        final = leaderboard(frame, protocol, "miou")
        best = leaderboard(frame, protocol, "best_miou")
        title = f"{protocol}: mIoU (%) of the final checkpoint, mean ± std over seeds"
        best_title = f"{protocol}: best mIoU over periodic validations (optimistic, for reference)"
        text = (f"{title}\n{tabulate(final, headers='keys', tablefmt='github')}\n\n"
                f"{best_title}\n{tabulate(best, headers='keys', tablefmt='github')}")
        chunks.append(text)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / f"leaderboard_{protocol}.md").write_text(
                f"## {title}\n\n{final.to_markdown()}\n\n## {best_title}\n\n"
                f"{best.to_markdown()}\n")
            final.to_csv(out_dir / f"leaderboard_{protocol}.csv")
    return "\n\n".join(chunks)
