"""Paired comparison over shared seeds: numbers against a hand computation, verdicts, CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.cli import main
from benchmark.reporting.paired import TooFewPairs, paired_comparison
from tests.reporting_records import make_record, small_set


def test_difference_interval_and_p_value_match_a_hand_computation():
    a = pd.Series({0: 55.5, 1: 56.5, 2: 56.0, 7: 99.0})  # seed 7 has no partner
    b = pd.Series({0: 50.0, 1: 52.0, 2: 51.0, 3: 10.0})
    result = paired_comparison(a, b, "fixmatch", "supervised")
    differences = np.array([5.5, 4.5, 5.0])
    n = len(differences)
    sem = differences.std(ddof=1) / math.sqrt(n)
    t_statistic = differences.mean() / sem
    half_width = stats.t.ppf(0.975, n - 1) * sem
    assert result.seeds == (0, 1, 2)
    assert result.mean_difference == pytest.approx(5.0)
    assert result.ci_low == pytest.approx(5.0 - half_width)
    assert result.ci_high == pytest.approx(5.0 + half_width)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t_statistic), n - 1))
    assert result.verdict == "fixmatch > supervised beyond seed noise"


def test_overlapping_runs_are_within_seed_noise_and_losses_are_named():
    b = pd.Series({0: 50.0, 1: 52.0, 2: 51.0})
    within = paired_comparison(pd.Series({0: 48.0, 1: 55.0, 2: 51.0}), b, "cps", "supervised")
    assert within.direction == 0 and within.p_value > 0.05
    assert within.verdict == "cps and supervised differ by no more than seed noise"
    below = paired_comparison(b - 5.0 + pd.Series({0: 0.1, 1: -0.2, 2: 0.0}), b, "upc",
                              "supervised")
    assert below.direction == -1 and below.verdict == "upc < supervised beyond seed noise"


def test_constant_differences_have_no_noise_to_judge_against():
    b = pd.Series({0: 50.0, 1: 52.0})
    result = paired_comparison(b + 1.0, b, "a", "b")
    assert math.isnan(result.p_value) and result.direction == 0
    assert "on every shared seed" in result.verdict


@pytest.mark.parametrize("seeds_a, message", [((0,), "share seed 0"), ((5, 6), "share no seed")])
def test_fewer_than_two_shared_seeds_is_an_error(seeds_a, message):
    with pytest.raises(TooFewPairs, match=message):
        paired_comparison(pd.Series({s: 1.0 for s in seeds_a}), pd.Series({0: 2.0, 1: 3.0}),
                          "a", "b")


def test_seeds_where_either_row_diverged_are_left_out_and_named():
    nan = float("nan")
    result = paired_comparison(pd.Series({0: 55.0, 1: nan, 2: 57.0, 3: 56.0}),
                               pd.Series({0: 50.0, 1: 51.0, 2: 51.0, 3: nan}), "a", "b")
    assert result.seeds == (0, 2) and result.diverged == ((1, "a"), (3, "b"))
    assert result.differences == (5.0, 6.0)
    with pytest.raises(TooFewPairs) as err:
        paired_comparison(pd.Series({0: 55.0, 1: nan}), pd.Series({0: 50.0, 1: nan}), "a", "b")
    assert str(err.value) == ("a and b share seed 0 (excluded seed 1 (a and b diverged: NaN "
                              "mIoU)); a paired comparison needs at least 2 shared seeds (run "
                              "both with the same --seeds)")


def _save(records, results):
    for record in records:
        record.save(results)
    return results


def test_compare_command_prints_interval_and_verdict(tmp_path, capsys):
    results = _save(small_set(), tmp_path)
    assert main(["compare", "fixmatch", "supervised", "--split", "1_8",
                 "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "synthetic 1_8, final mIoU: paired over seeds 0, 1, 2 (n=3)" in out
    assert "fixmatch - supervised = +5.00 mIoU, 95% CI [" in out
    assert "verdict: fixmatch > supervised beyond seed noise" in out


def test_compare_with_one_shared_seed_exits_2_with_one_line(tmp_path, capsys):
    results = _save([make_record("supervised", "full", 0, 80.0),
                     make_record("fixmatch", "full", 0, 81.0),
                     make_record("fixmatch", "full", 1, 82.0)], tmp_path)
    assert main(["compare", "fixmatch", "supervised", "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: fixmatch and supervised share seed 0; a paired comparison needs at "
                   "least 2 shared seeds (run both with the same --seeds)"]


def test_compare_without_a_common_split_exits_2(tmp_path, capsys):
    results = _save(small_set(), tmp_path)
    assert main(["compare", "fixmatch", "supervised", "--split", "full",
                 "--results-dir", str(results)]) == 2
    assert "were not both run on any split at split full" in capsys.readouterr().err


def test_compare_excludes_a_diverged_seed_with_a_line(tmp_path, capsys):
    nan = float("nan")
    results = _save(small_set() + [make_record("unimatch", "1_8", s, v)
                                   for s, v in enumerate([57.0, nan, 59.0])], tmp_path)
    assert main(["compare", "unimatch", "supervised", "--split", "1_8",
                 "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["synthetic 1_8, final mIoU: paired over seeds 0, 2 (n=2)",
                       "  excluded seed 1 (unimatch diverged: NaN mIoU)",
                       "  unimatch - supervised = +7.50 mIoU, 95% CI [+1.15, +13.85] "
                       "(t-interval), paired t-test p = 0.0424"]
    assert "nan" not in "\n".join(out[2:])


def test_compare_with_too_few_seeds_left_after_divergence_exits_2(tmp_path, capsys):
    nan = float("nan")
    results = _save(small_set() + [make_record("unimatch", "1_8", s, v)
                                   for s, v in enumerate([57.0, nan, nan])], tmp_path)
    assert main(["compare", "unimatch", "supervised", "--split", "1_8",
                 "--results-dir", str(results)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "error: unimatch and supervised share seed 0 (excluded seed 1 (unimatch diverged: NaN "
        "mIoU), seed 2 (unimatch diverged: NaN mIoU)); a paired comparison needs at least 2 "
        "shared seeds (run both with the same --seeds)"]
    assert captured.out == ""
