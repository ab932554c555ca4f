"""Leaderboards from run records: methods x splits, mean +/- std over seeds (n shown).

The tables are built in :mod:`benchmark.reporting`; this module keeps the entry points
``run`` and ``table`` use.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.atomic_io import write_text_atomic
from benchmark.reporting.formats import render_blocks
from benchmark.reporting.frame import experimental_options, protocol_runs, records_frame
from benchmark.reporting.leaderboard_table import leaderboard_block
from benchmark.reporting.report import protocol_blocks, record_protocols
from benchmark.runs.record import RunRecord

__all__ = ["experimental_options", "leaderboard", "records_frame", "render"]


def leaderboard(frame: pd.DataFrame, protocol: str, value: str = "miou") -> pd.DataFrame:
    """Pivot one protocol's runs into ``method x split`` cells of mean +/- std (n).

    Args:
        frame: Output of :func:`records_frame`.
        protocol: Protocol to tabulate.
        value: ``"miou"`` (final checkpoint) or ``"best_miou"`` (best over validations).

    Returns:
        Display text per cell (with the marker of the difference to supervised-only).
    """
    runs = protocol_runs(frame, protocol)
    if runs.empty:
        return pd.DataFrame()
    metric = "best" if value == "best_miou" else "final"
    return leaderboard_block(runs, protocol, metric).table


def render(records: list[RunRecord], out_dir: Path | None = None) -> str:
    """Render every protocol's leaderboards as Markdown; also write Markdown and CSV files.

    Args:
        records: Run records.
        out_dir: If given, ``leaderboard_<protocol>.md`` (final and best-over-validations
            tables, published numbers) and ``.csv`` (the final table in long form) are
            written there.

    Returns:
        The text printed to the terminal.
    """
    if not records:
        return "no run records found"
    chunks = []
    for protocol in record_protocols(records):
        blocks = protocol_blocks(records, protocol, "final")
        best = protocol_blocks(records, protocol, "best")[0]
        text = render_blocks([blocks[0], best, *blocks[1:]], "md")
        chunks.append(text)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out_dir / f"leaderboard_{protocol}.md", text)
            write_text_atomic(out_dir / f"leaderboard_{protocol}.csv",
                              render_blocks(blocks[:1], "csv"))
    return "\n".join(chunks).rstrip("\n")
