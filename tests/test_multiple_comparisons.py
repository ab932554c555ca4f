"""Holm's correction of the leaderboard's markers, and cells trained on mixed machines."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from benchmark.reporting.frame import protocol_runs, records_frame
from benchmark.reporting.leaderboard_table import leaderboard_block, versus_supervised
from benchmark.reporting.paired import PairedComparison, holm_adjusted
from tests.reporting_records import make_record


def _comparison(p_value: float) -> PairedComparison:
    return PairedComparison("m", "supervised", (0, 1), (1.0, 2.0), 1.5, 0.0, 3.0, p_value)


def _holm_by_hand(p_values: list[float]) -> list[float]:
    """Step-down: the i-th smallest p times (m - i), running maximum, capped at 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p_values[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def test_holm_matches_a_hand_computation():
    family = {"a": _comparison(0.01), "b": _comparison(0.04), "c": _comparison(0.03),
              "flat": _comparison(math.nan)}
    adjusted = holm_adjusted(family)
    # three tests: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> max(0.06, 0.04)
    assert adjusted["a"].adjusted_p_value == pytest.approx(0.03)
    assert adjusted["c"].adjusted_p_value == pytest.approx(0.06)
    assert adjusted["b"].adjusted_p_value == pytest.approx(0.06)
    assert adjusted["flat"].adjusted_p_value is None  # no variation: not a test
    assert [adjusted[k].direction for k in "abc"] == [1, 0, 0]
    assert [family[k].direction for k in "abc"] == [1, 1, 1]  # uncorrected: all three


def _records():
    sup = [50.0, 52.0, 51.0, 53.0]
    gains = {"clear": [5.0, 5.2, 4.9, 5.1], "borderline": [2.0, 3.0, 0.5, 2.6],
             "noise": [2.0, -3.0, 1.0, -1.0]}
    records = [make_record("supervised", "1_8", k, v) for k, v in enumerate(sup)]
    for method, delta in gains.items():
        records += [make_record(method, "1_8", k, s + d) for k, (s, d) in
                    enumerate(zip(sup, delta))]
    return records, sup, gains


def test_leaderboard_markers_use_holm_over_the_methods_of_a_column():
    records, sup, gains = _records()
    runs = protocol_runs(records_frame(records), "synthetic")
    raw = {m: stats.ttest_rel([s + d for s, d in zip(sup, g)], sup).pvalue
           for m, g in gains.items()}
    assert raw["borderline"] < 0.05  # uncorrected it would be marked
    expected = dict(zip(raw, _holm_by_hand(list(raw.values()))))
    assert expected["borderline"] >= 0.05 and expected["clear"] < 0.05
    comparisons = versus_supervised(runs, "miou")
    for method in gains:
        assert comparisons[method, "1_8"].adjusted_p_value == pytest.approx(expected[method])
    block = leaderboard_block(runs, "synthetic")
    assert block.table.loc["clear", "1_8"].endswith("↑")
    assert not block.table.loc["borderline", "1_8"].endswith(("↑", "↓"))
    assert any("Holm" in note for note in block.footnotes)
    long = block.data
    row = long[long.method == "borderline"].iloc[0]
    assert row.p_value == pytest.approx(raw["borderline"])
    assert row.p_value_holm == pytest.approx(expected["borderline"])


def test_cells_trained_with_other_threads_or_cpus_are_marked():
    records, _, _ = _records()
    for record in records:
        record.threads, record.cpu = 1, "cpu A (AVX-512)"
    records[0].threads = 2  # one supervised seed with two threads
    records[-1].cpu = "cpu B (AVX2)"  # one 'noise' seed on another CPU kind
    old = make_record("legacy", "1_8", 0, 40.0)  # no threads / cpu fields: not counted
    old2 = make_record("legacy", "1_8", 1, 41.0, threads=1)
    runs = protocol_runs(records_frame(records + [old, old2]), "synthetic")
    block = leaderboard_block(runs, "synthetic")
    table = block.table
    assert table.loc["supervised", "1_8"].endswith("†")
    assert table.loc["noise", "1_8"].endswith("†")
    assert not table.loc["clear", "1_8"].endswith("†")
    assert not table.loc["legacy", "1_8"].endswith("†")
    assert any(note.startswith("†: the cell's runs were trained with different thread counts")
               for note in block.footnotes)
    unmixed = protocol_runs(records_frame(records[1:-1]), "synthetic")
    assert not any("†" in note for note in leaderboard_block(unmixed, "synthetic").footnotes)
    assert isinstance(table, pd.DataFrame)
