"""The validity targets, measured on hand-made records against hand-computed values."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from scipy import stats

from benchmark.commands.validity import validity_text
from benchmark.errors import BenchmarkError
from benchmark.reporting.frame import records_frame
from benchmark.reporting.readme import VALIDITY_END, VALIDITY_START, readme_block
from benchmark.reporting.records import read_records
from benchmark.reporting.validity import ValidityTargets, validity_results
from tests.reporting_records import make_record

ROOT = Path(__file__).resolve().parents[1]
T = 100  # the hand-made records' schedule
SOP0 = {"model.sop_weight": 0}

SUPERVISED_1_8 = [50.0, 52.0, 51.0, 53.5, 49.5]
UNIMATCH_1_8 = [56.0, 57.5, 55.0, 60.0, 54.0]     # about +5 on every seed
SOP0_1_8 = [49.0, 53.0, 52.5, 52.0, 50.5]        # within noise


def study_records(seeds: int = 5) -> list:
    records = []
    for seed in range(seeds):
        records += [make_record("supervised", "1_8", seed, SUPERVISED_1_8[seed], wall_time_s=100.0),
                    make_record("unimatch", "1_8", seed, UNIMATCH_1_8[seed], wall_time_s=300.0),
                    make_record("sop", "1_8", seed, SOP0_1_8[seed], cfg_options=SOP0,
                                config_hash="sop0".ljust(64, "0"), wall_time_s=250.0),
                    make_record("sop", "1_8", seed, 40.0, wall_time_s=200.0)]
    for seed, (short, long) in enumerate([(80.0, 80.5), (81.0, 82.5)]):
        records += [make_record("supervised", "full", seed, short),
                    make_record("supervised", "full", seed, long, iterations=2 * T,
                                config_hash="full2x".ljust(64, "0"))]
    return records


def results(records, methods=("supervised", "unimatch", "sop")):
    return {r.target.split(":")[0]: r for r in validity_results(records_frame(records), T,
                                                                list(methods))}


def test_convergence_scarcity_and_noise_against_hand_computed_values():
    found = results(study_records())
    convergence = found["supervised-only on all labels converged (2x schedule moves it <= 1)"]
    assert "(+1.00)" in convergence.measured and convergence.met is True  # 82.5 - 81.5 <= 1
    scarcity = found["label scarcity"]
    gap = 80.5 - statistics.mean(SUPERVISED_1_8)
    assert f"= {gap:.2f}" in scarcity.measured and scarcity.met is True
    noise = found["seed noise"]
    assert noise.measured.startswith(f"{statistics.stdev(SUPERVISED_1_8):.2f} ")
    assert noise.met is (statistics.stdev(SUPERVISED_1_8) <= 1.5)


def test_references_are_paired_and_holm_adjusted_within_the_split():
    line = results(study_records())["representative at 1/8"]
    p_unimatch = stats.ttest_rel(UNIMATCH_1_8, SUPERVISED_1_8).pvalue
    p_sop0 = stats.ttest_rel(SOP0_1_8, SUPERVISED_1_8).pvalue
    low, high = sorted([p_unimatch, p_sop0])
    holm = {low: 2 * low, high: max(2 * low, high)}  # Holm's step-down for two tests
    assert f"unimatch +{statistics.mean(UNIMATCH_1_8) - statistics.mean(SUPERVISED_1_8):.2f}" \
        in line.measured
    assert f"p_Holm = {holm[p_unimatch]:.3g}" in line.measured
    assert f"p_Holm = {holm[p_sop0]:.3g}" in line.measured
    assert "sop (model.sop_weight=0)" in line.measured  # the sop_weight=0 row, not sop's own
    assert line.met is False  # sop with sop_weight=0 is within noise


def test_not_below_is_met_by_a_difference_within_noise():
    records = []
    for seed, (sup, d_uni, d_sop0) in enumerate(zip(SUPERVISED_1_8, [-0.5, 0.5, -0.5, 0.5, 0.0],
                                                    [1.0, -1.0, 0.5, -0.5, 0.0])):
        records += [make_record("supervised", "1_4", seed, sup),
                    make_record("unimatch", "1_4", seed, sup + d_uni),
                    make_record("sop", "1_4", seed, sup + d_sop0, cfg_options=SOP0)]
    line = results(records)["representative at 1/4"]
    assert line.met is True
    assert "unimatch +0.00" in line.measured and "sop (model.sop_weight=0) +0.00" in line.measured


def test_missing_records_are_not_measured_and_named():
    records = [r for r in study_records(seeds=3) if r.split == "1_8" and r.method != "sop"]
    found = results(records)
    assert found["seed noise"].met is None and found["seed noise"].measured == "3 seed(s)"
    assert found["supervised-only on all labels converged (2x schedule moves it <= 1)"] \
        .measured == "no `full` records at 100 it and 200 it"
    assert "sop (model.sop_weight=0)" in found["representative at 1/8"].measured
    assert found["representative at 1/8"].met is None
    budget = found["budget"]
    assert budget.met is None and budget.measured == "no default 1/8 record of sop"


def test_budget_is_the_slower_make_run_run_and_the_leaderboard_sum_over_slots():
    budget = results(study_records())["budget"]
    # make run: max(sop 200 s, unimatch 300 s); leaderboard: (100 + 300 + 200) * 3 / 2 s
    assert "`make run` about 5.0 min" in budget.measured
    assert f"leaderboard about {(100 + 300 + 200) * 3 / 2 / 3600:.1f} h" in budget.measured
    assert budget.met is True
    tight = ValidityTargets(make_run_budget_s=299.0)
    line = [r for r in validity_results(records_frame(study_records()), T,
                                        ["supervised", "unimatch", "sop"], tight)
            if r.target.startswith("budget")][0]
    assert line.met is False


def test_command_refuses_other_protocols_and_empty_folders(tmp_path):
    with pytest.raises(BenchmarkError, match="built-in protocol only; drop --protocol pascal"):
        validity_text(tmp_path, "pascal")
    with pytest.raises(BenchmarkError, match=f"no run records in {tmp_path}/runs"):
        validity_text(tmp_path)
    make_record("supervised", "1_8", 0, 50.0, protocol="pascal").save(tmp_path)
    with pytest.raises(BenchmarkError, match="no synthetic records"):
        validity_text(tmp_path)


def test_readme_validity_block_equals_the_command_output_for_the_shipped_records():
    records, problems = read_records(ROOT / "results")
    assert records and not problems
    block = readme_block((ROOT / "README.md").read_text(), "synthetic", VALIDITY_START,
                         VALIDITY_END)
    assert block == validity_text(ROOT / "results")


def test_make_run_methods_are_the_makefiles():
    makefile = (ROOT / "Makefile").read_text()
    methods = next(line.split("?=")[1].strip() for line in makefile.splitlines()
                   if line.startswith("METHODS ?="))
    assert tuple(methods.split(",")) == ValidityTargets().make_run_methods
