"""Every figure of a results folder, written as PNG and SVG."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.reporting.frame import ordered_splits, protocol_runs, records_frame
from benchmark.reporting.plots.label_efficiency import label_efficiency_figure
from benchmark.reporting.plots.output import save_figure
from benchmark.reporting.plots.per_class import per_class_figure
from benchmark.reporting.plots.training import diagnostics_figure, loss_figure, validation_figure
from benchmark.reporting.scalar_logs import run_scalars
from benchmark.runs.record import RunRecord


@dataclass
class PlotReport:
    """What ``plot`` wrote and what it could not draw."""

    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _split_logs(runs: pd.DataFrame, results_dir: Path) -> tuple[dict, int]:
    logs, missing = {}, 0
    for _, run in runs.iterrows():
        scalars = run_scalars(run.work_dir, results_dir, run.val_history)
        if scalars is None:
            missing += 1
        else:
            logs.setdefault(run.row, []).append(scalars)
    return logs, missing


def write_plots(records: list[RunRecord], results_dir: Path, out_dir: Path) -> PlotReport:
    """Write the label-efficiency curve per protocol and, per split, per-class IoU bars,
    validation curves, loss curves and pseudo-label diagnostics (the last two from scalar
    logs, where the work dirs are present).

    Args:
        records: Run records.
        results_dir: Folder the records were read from (work dirs are looked up beside it).
        out_dir: Folder for the files.
    """
    report = PlotReport()
    frame = records_frame(records)
    for protocol in sorted(frame.protocol.unique()):
        runs = protocol_runs(frame, protocol)
        splits = ordered_splits(protocol, runs.split.unique())
        report.paths += save_figure(label_efficiency_figure(runs, protocol), out_dir,
                                    f"label_efficiency_{protocol}")
        if len(splits) < 2:
            report.notes.append(f"{protocol}: records at one split only ({splits[0]}); the "
                                "label-efficiency curve has one point per method")
        for split in splits:
            at_split = runs[runs.split == split]
            stem = f"{protocol}_{split}"
            report.paths += save_figure(per_class_figure(runs, protocol, split), out_dir,
                                        f"per_class_{stem}")
            report.paths += save_figure(validation_figure(runs, protocol, split), out_dir,
                                        f"val_miou_{stem}")
            logs, missing = _split_logs(at_split, results_dir)
            if missing:
                report.notes.append(
                    f"{protocol} {split}: no MMEngine scalar log found for {missing} of "
                    f"{len(at_split)} runs (work dir absent or holding other runs); their "
                    "loss and pseudo-label curves are left out")
            for name, figure in (("losses", loss_figure(logs, protocol, split)),
                                 ("pseudo_labels", diagnostics_figure(logs, protocol, split))):
                if figure is not None:
                    report.paths += save_figure(figure, out_dir, f"{name}_{stem}")
    return report
