"""Figures are built with the expected axes and series (figure objects, not pixels)."""

from __future__ import annotations

import json

import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from benchmark.cli import main
from benchmark.commands.plot import select_methods
from benchmark.reporting.frame import protocol_runs, records_frame
from benchmark.reporting.plots.label_efficiency import label_efficiency_figure
from benchmark.reporting.plots.per_class import per_class_figure
from benchmark.reporting.plots.training import diagnostics_figure, loss_figure, validation_figure
from benchmark.reporting.records import read_records_reporting_problems
from benchmark.reporting.scalar_logs import run_scalars
from tests.reporting_records import make_record

SPLITS = {"1_16": 40.0, "1_8": 50.0, "1_4": 60.0, "full": 80.0}


def _sweep():
    records = []
    for split, base in SPLITS.items():
        for seed in range(3):
            records.append(make_record("supervised", split, seed, base + seed))
            if split != "full":
                records.append(make_record("unimatch", split, seed, base + 5 + 2 * seed))
    return protocol_runs(records_frame(records), "synthetic")


def test_label_efficiency_has_one_error_bar_series_per_method_over_the_fractions():
    axes = label_efficiency_figure(_sweep(), "synthetic").axes[0]
    series = {c.get_label(): c for c in axes.containers if isinstance(c, ErrorbarContainer)}
    assert set(series) == {"supervised", "unimatch"}
    line = series["supervised"].lines[0]
    assert list(line.get_ydata()) == pytest.approx([41.0, 51.0, 61.0, 81.0])
    assert list(line.get_xdata()) == pytest.approx([1 / 16, 1 / 8, 1 / 4, 1.0], rel=0.05)
    assert list(series["unimatch"].lines[0].get_ydata()) == pytest.approx([47.0, 57.0, 67.0])
    assert axes.get_xscale() == "log"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["1/16", "1/8", "1/4", "full"]
    assert axes.get_ylabel().startswith("mIoU")


def test_per_class_bars_per_method_and_class():
    axes = per_class_figure(_sweep(), "synthetic", "1_8").axes[0]
    bars = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert [b.get_label() for b in bars] == ["supervised", "unimatch"]
    assert [p.get_height() for p in bars[0].patches] == pytest.approx([90.0, 2 * 51.0 - 90.0])
    assert [t.get_text() for t in axes.get_xticklabels()] == ["background", "thing"]


def test_validation_curve_from_records():
    axes = validation_figure(_sweep(), "synthetic", "1_4").axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines["unimatch"].get_xdata()) == [50, 100]
    assert list(lines["unimatch"].get_ydata()) == pytest.approx([62.0, 67.0])


def _write_log(work_dir, record, steps=(50, 100)):
    log = work_dir / "20260101_000000" / "vis_data" / "scalars.json"
    log.parent.mkdir(parents=True)
    lines = [{"step": s, "sup.loss_ce": 1.0 / s, "unsup.loss_u": 2.0 / s,
              "diag.pseudo_label_acc": s / 200, "diag.changed_fraction": 0.01} for s in steps]
    lines.append({"step": 100, "mIoU": record.val_history[-1]["mIoU"]})
    log.write_text("\n".join(json.dumps(line) for line in lines))


def test_loss_and_pseudo_label_curves_from_scalar_logs(tmp_path):
    record = make_record("sop", "1_8", 0, 55.0, work_dir=str(tmp_path / "w" / "sop0"))
    _write_log(tmp_path / "w" / "sop0", record)
    scalars = run_scalars(record.work_dir, tmp_path, record.val_history)
    assert scalars is not None
    other = make_record("sop", "1_8", 1, 30.0, work_dir=str(tmp_path / "w" / "sop0"))
    assert run_scalars(other.work_dir, tmp_path, other.val_history) is None  # not its log
    logs = {"sop": [scalars]}
    losses = loss_figure(logs, "synthetic", "1_8").axes[0]
    assert losses.get_title() == "sop"
    assert {line.get_label() for line in losses.get_lines()} == {"sup.loss_ce", "unsup.loss_u"}
    panels = diagnostics_figure(logs, "synthetic", "1_8").axes
    assert [line.get_ydata().tolist() for line in panels[0].get_lines()] == [[0.25, 0.5]]
    assert loss_figure({}, "synthetic", "1_8") is None


def test_plot_command_writes_png_and_svg_and_says_when_logs_are_absent(tmp_path, capsys):
    for seed, miou in enumerate([50.0, 52.0]):
        make_record("supervised", "1_8", seed, miou, work_dir="absent/dir").save(tmp_path)
    out = tmp_path / "plots"
    assert main(["plot", "--results-dir", str(tmp_path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out.split()
    assert str(out / "label_efficiency_synthetic.png") in printed
    assert str(out / "label_efficiency_synthetic.svg") in printed
    assert all((out / p).exists() for p in printed)
    assert "no MMEngine scalar log found for 2 of 2 runs" in captured.err
    assert "one point per method" in captured.err
    svg = (out / "label_efficiency_synthetic.svg").read_bytes()
    assert main(["plot", "--results-dir", str(tmp_path), "--out", str(out)]) == 0
    assert (out / "label_efficiency_synthetic.svg").read_bytes() == svg


def test_plot_methods_draws_only_the_named_methods_and_rejects_unknown_ones(tmp_path, capsys):
    for seed in range(2):
        for method, miou in (("supervised", 50.0), ("unimatch", 55.0), ("fixmatch", 53.0)):
            make_record(method, "1_8", seed, miou + seed, work_dir="absent/dir").save(tmp_path)
    out = tmp_path / "plots"
    assert main(["plot", "--results-dir", str(tmp_path), "--out", str(out),
                 "--methods", "supervised,unimatch"]) == 0
    chosen = select_methods(read_records_reporting_problems(tmp_path), "unimatch, supervised",
                            tmp_path)
    axes = label_efficiency_figure(protocol_runs(records_frame(chosen), "synthetic"),
                                   "synthetic").axes[0]
    labels = {c.get_label() for c in axes.containers if isinstance(c, ErrorbarContainer)}
    assert labels == {"supervised", "unimatch"}
    capsys.readouterr()
    assert main(["plot", "--results-dir", str(tmp_path), "--methods", "supervised,sopp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --methods: no records of sopp in {tmp_path}/runs; methods with "
                   "records: fixmatch, supervised, unimatch"]
