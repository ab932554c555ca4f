"""Leaderboards from run records: methods x splits, mean +/- std over seeds (n shown)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark.protocols import PROTOCOLS
from benchmark.runs.record import RunRecord


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run with the columns the tables need."""
    rows = [dict(protocol=r.protocol, split=r.split, method=r.method, seed=r.seed,
                 miou=r.miou, best_miou=r.best_miou, config_hash=r.config_hash[:8],
                 iterations=r.iterations, seconds_per_iter=r.seconds_per_iter)
            for r in records]
    return pd.DataFrame(rows)


def _cell(values: pd.Series) -> str:
    n = len(values)
    if n == 1:
        return f"{values.iloc[0]:.2f} (n=1)"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} (n={n})"


def _row_labels(frame: pd.DataFrame) -> pd.Series:
    """Method name; with several configs of one method, suffixed by iterations and hash."""
    configs = frame.groupby("method")["config_hash"].nunique()
    return frame.apply(
        lambda r: f"{r.method} [{r.iterations} it, {r.config_hash}]" if configs[r.method] > 1
        else r.method, axis=1)


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
