"""The Sinkhorn benchmark figures at a tiny shape, and its POT error message."""

from __future__ import annotations

import sys

import pytest

from benchmark.errors import BenchmarkError
from benchmark.perf.sinkhorn_bench import format_sinkhorn_report, run_sinkhorn_benchmark


def test_tiny_benchmark_agrees_with_pot():
    pytest.importorskip("ot")
    result = run_sinkhorn_benchmark(batch=1, grid=2, crop=33, num_classes=5, repeats=1)
    assert result["num_problems"] == 4 and result["rows_per_problem"] == 17 * 17
    assert result["label_agreement"] >= 0.999 and result["label_agreement_full"] >= 0.999
    assert result["speedup"] == pytest.approx(result["pot_seconds"] / result["ours_seconds"])
    report = format_sinkhorn_report(result)
    assert f"{result['speedup']:.1f}x" in report
    assert f"{100 * result['label_agreement']:.3f}%" in report


def test_missing_pot_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "ot", None)  # makes `import ot` raise ImportError
    with pytest.raises(BenchmarkError, match="pip install pot"):
        run_sinkhorn_benchmark(batch=1, grid=1, crop=8, num_classes=3, repeats=1)
