"""Assemble the blocks ``python -m benchmark table`` prints for each protocol."""

from __future__ import annotations

from benchmark.reporting.class_table import class_blocks
from benchmark.reporting.compute_table import compute_blocks
from benchmark.reporting.formats import Block
from benchmark.reporting.frame import protocol_runs, records_frame
from benchmark.reporting.leaderboard_table import leaderboard_block
from benchmark.reporting.published import published_block
from benchmark.runs.record import RunRecord


def protocol_blocks(records: list[RunRecord], protocol: str, metric: str = "final",
                    per_class: bool = False, compute: bool = False) -> list[Block]:
    """The report of one protocol: leaderboard, then the requested extra tables, then the
    published numbers where the protocol has any.

    Args:
        records: Run records (any protocols; others are ignored).
        protocol: Protocol to report.
        metric: ``final`` or ``best``.
        per_class: Add per-class IoU tables.
        compute: Add compute tables.
    """
    runs = protocol_runs(records_frame(records), protocol) if records else None
    blocks = []
    if runs is not None and not runs.empty:
        blocks.append(leaderboard_block(runs, protocol, metric))
        if per_class:
            blocks += class_blocks(runs, protocol, metric)
        if compute:
            blocks += compute_blocks(runs, protocol)
    published = published_block(runs if runs is not None else records_frame([]), protocol)
    if published is not None:
        blocks.append(published)
    return blocks


def record_protocols(records: list[RunRecord]) -> list[str]:
    """Protocols the records cover, sorted."""
    return sorted({r.protocol for r in records})
