"""Report tables: aggregation, best per column, supervised markers, formats (golden files)."""

from __future__ import annotations

import shutil
import statistics
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from pylatexenc.latexwalker import LatexEnvironmentNode, LatexWalker

from benchmark.commands.table import table_text
from benchmark.reporting.frame import labeled_fraction, protocol_runs, records_frame, summarize
from benchmark.reporting.report import protocol_blocks
from tests.reporting_records import make_record, small_set

GOLDEN = Path(__file__).parent / "golden"


def test_mean_std_and_n_per_cell():
    runs = protocol_runs(records_frame(small_set()), "synthetic")
    summary = summarize(runs)
    cell = summary.loc[("cps", "1_8")]
    assert cell["mean"] == pytest.approx(statistics.mean([48.0, 55.0, 51.0]))
    assert cell["std"] == pytest.approx(statistics.stdev([48.0, 55.0, 51.0]))
    assert cell["n"] == 3
    assert pd.isna(summary.loc[("supervised", "full"), "std"])
    best = summarize(runs, "best_miou").loc[("supervised", "full"), "mean"]
    assert best == pytest.approx(81.0)


@pytest.mark.parametrize("protocol, split, fraction", [
    ("synthetic", "1_16", 1 / 16), ("synthetic", "full", 1.0), ("pascal_u2pl", "u2pl_1_4", 0.25),
    ("pascal_classic", "366", 366 / 1464), ("synthetic", "odd", None)])
def test_labeled_fraction(protocol, split, fraction):
    assert labeled_fraction(protocol, split) == (pytest.approx(fraction) if fraction else None)


def test_leaderboard_marks_best_and_difference_to_supervised():
    block = protocol_blocks(small_set(), "synthetic")[0]
    assert block.table.loc["fixmatch", "1_8"] == "56.00 ± 0.50 (n=3)↑"
    assert block.table.loc["cps", "1_8"] == "51.33 ± 3.51 (n=3)"  # within seed noise
    assert block.table.loc["supervised", "full"] == "80.00 (n=1)"
    assert block.bold.loc["fixmatch", "1_8"] and not block.bold.loc["cps", "1_8"]
    assert block.bold.loc["supervised", "full"]
    data = block.data.set_index(["method", "split"])
    assert data.loc[("fixmatch", "1_8"), "vs_supervised"] == "above"
    assert data.loc[("fixmatch", "1_8"), "diff_vs_supervised"] == pytest.approx(5.0)
    assert data.loc[("cps", "1_8"), "vs_supervised"] == "within noise"


def test_title_names_the_evaluation_mode_of_the_records():
    assert "evaluation" not in protocol_blocks(small_set(), "synthetic")[0].title  # old records
    slide = [make_record("supervised", "1_8", seed, 50.0 + seed, protocol="cityscapes",
                         eval_mode="slide 801/534") for seed in range(2)]
    block = protocol_blocks(slide, "cityscapes")[0]
    assert block.title.endswith("mean ± std over seeds (evaluation: slide 801/534)")
    mixed = slide + [make_record("supervised", "1_8", 2, 51.0, protocol="cityscapes",
                                 eval_mode="whole")]
    assert protocol_blocks(mixed, "cityscapes")[0].title.endswith(
        "(evaluation: slide 801/534, whole)")


def test_best_metric_is_labelled_and_uses_best_miou():
    block = protocol_blocks(small_set(), "synthetic", metric="best")[0]
    assert "best mIoU over periodic validations" in block.title
    assert block.table.loc["supervised", "full"] == "81.00 (n=1)"


def test_rows_below_supervised_get_the_down_marker():
    records = small_set() + [make_record("upc", "1_8", s, v)
                             for s, v in enumerate([40.0, 42.1, 40.9])]
    block = protocol_blocks(records, "synthetic")[0]
    assert block.table.loc["upc", "1_8"].endswith("↓")


@pytest.mark.parametrize("fmt", ["md", "csv", "latex", "html"])
def test_formats_match_golden_files_and_are_deterministic(fmt):
    records = small_set()
    text = table_text(records, "synthetic", fmt, per_class=True, compute=True)
    assert text == table_text(list(reversed(records)), "synthetic", fmt, per_class=True,
                              compute=True)
    golden = GOLDEN / f"table_synthetic.{'tex' if fmt == 'latex' else fmt}"
    assert text == golden.read_text()


def _environments(nodes, name):
    for node in nodes or []:
        if isinstance(node, LatexEnvironmentNode):
            if node.environmentname == name:
                yield node
            yield from _environments(node.nodelist, name)


def test_latex_output_parses_and_every_tabular_row_has_its_columns():
    text = table_text(small_set(), "synthetic", "latex", per_class=True, compute=True)
    document = rf"\documentclass{{article}}\begin{{document}}{text}\end{{document}}"
    nodes, _, _ = LatexWalker(document, tolerant_parsing=False).get_latex_nodes()
    tabulars = list(_environments(nodes, "tabular"))
    assert len(tabulars) == 5  # leaderboard, per-class at 1_8 and full, compute at both
    for tabular in tabulars:
        spec = tabular.nodeargd.argnlist[-1].nodelist[0].chars
        body = tabular.latex_verbatim().split("\n", 1)[1].rsplit("\n", 1)[0]
        rows = [line for line in body.splitlines() if line.strip() != r"\hline"]
        assert rows and all(line.rstrip().endswith(r"\\") for line in rows)
        # unescaped & separate cells: every row has as many as the column spec
        assert {line.replace(r"\&", "").count("&") + 1 for line in rows} == {len(spec)}
    assert r"\textbf{56.00 \ensuremath{\pm} 0.50 (n=3){\textuparrow}}" in text
    assert r"cps\_" not in text and "fixmatch" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no LaTeX engine installed")
def test_latex_output_compiles_with_pdflatex_in_a_minimal_document(tmp_path):
    text = table_text(small_set(), "synthetic", "latex", per_class=True, compute=True)
    source = tmp_path / "table.tex"
    source.write_text("\\documentclass{article}\n\\begin{document}\n" + text
                      + "\n\\end{document}\n")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                             source.name], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "table.pdf").stat().st_size > 0
    log = (tmp_path / "table.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "Missing" not in log


def test_csv_is_long_form_numbers():
    text = table_text(small_set(), "synthetic", "csv")
    lines = text.splitlines()
    assert lines[0].startswith("# synthetic: mIoU (%) of the final checkpoint")
    assert lines[1] == ("method,split,mean,std,n,best,diff_vs_supervised,ci_low,ci_high,"
                        "p_value,p_value_holm,shared_seeds,vs_supervised,diverged")
    assert "fixmatch,1_8,56.0000,0.5000,3,True,5.0000," in text


def test_diverged_runs_are_counted_in_the_cell_and_left_out_of_mean_and_test():
    nan = float("nan")
    records = small_set() + [make_record("unimatch", "1_8", s, v)
                             for s, v in enumerate([57.0, nan, 58.0])]
    records.append(make_record("cps", "full", 0, nan))
    block = protocol_blocks(records, "synthetic")[0]
    assert block.table.loc["unimatch", "1_8"] == "57.50 ± 0.71 (n=2 of 3, 1 diverged)"
    assert block.table.loc["cps", "full"] == "diverged (n=0 of 1)"
    assert block.table.loc["fixmatch", "1_8"] == "56.00 ± 0.50 (n=3)↑"  # others unchanged
    assert any(note.startswith("n=k of m, j diverged: j of the cell's m runs ended with a "
                               "NaN mIoU") for note in block.footnotes)
    data = block.data.set_index(["method", "split"])
    assert data.loc[("unimatch", "1_8"), "n"] == 2
    assert data.loc[("unimatch", "1_8"), "diverged"] == 1
    assert data.loc[("unimatch", "1_8"), "shared_seeds"] == 2  # seed 1 left out of the test
    assert data.loc[("unimatch", "1_8"), "diff_vs_supervised"] == pytest.approx(7.0)
    assert data.loc[("cps", "full"), "n"] == 0 and data.loc[("cps", "full"), "diverged"] == 1
    assert "diverged" not in "".join(protocol_blocks(small_set(), "synthetic")[0].footnotes)


def _footnotes(records) -> list[str]:
    return protocol_blocks(records, "synthetic")[0].footnotes


def test_the_batch_footnote_says_whether_the_labeled_batches_are_equal():
    equal = _footnotes(small_set())
    assert ("batch per iteration: supervised-only 8 labeled crops, the semi-supervised "
            "methods 8 labeled + 8 unlabeled; the same labeled batch, so a gain is what the "
            "unlabeled images add.") in equal
    larger = [make_record("supervised", "1_8", s, 50.0, labeled_batch=16) for s in range(2)]
    larger += [make_record("fixmatch", "1_8", s, 52.0) for s in range(2)]
    assert ("batch per iteration: supervised-only 16 labeled crops, the semi-supervised "
            "methods 8 labeled + 8 unlabeled.") in _footnotes(larger)


def test_the_weights_footnote_appears_only_when_a_run_evaluated_averaged_weights():
    assert not any(n.startswith("evaluated weights") for n in _footnotes(small_set()))
    records = [make_record(m, "1_8", s, 50.0 + s,
                           evaluated_network=f"{'teacher' if m == 'fixmatch' else 'student'}"
                                             ", weight average 0.01")
               for m in ("supervised", "fixmatch") for s in range(2)]
    notes = [n for n in _footnotes(records) if n.startswith("evaluated weights")]
    assert notes == ["evaluated weights: weight average 0.01 (an exponential moving average "
                     "of each method's evaluated network, README)."]


def test_rows_of_one_method_on_two_backbones_are_named_by_the_backbone():
    records = [make_record("unimatch", "1_8", s, 60.0 + s, backbone="ResNetV1c-18",
                           config_hash="a" * 64) for s in range(2)]
    records += [make_record("unimatch", "1_8", s, 50.0 + s, backbone="timm:test_vit",
                            config_hash="b" * 64) for s in range(2)]
    rows = set(protocol_blocks(records, "synthetic")[0].table.index)
    assert rows == {"unimatch [ResNetV1c-18, 100 it]", "unimatch [timm:test_vit, 100 it]"}
