"""Leaderboard tables from records: mean ± std over seeds, n, separate best column."""

from __future__ import annotations

import statistics

from benchmark.runs.leaderboard import leaderboard, records_frame, render
from benchmark.runs.record import RunRecord, load_records


def _record(method, split, seed, miou, best, config_hash="a" * 64, iterations=100):
    return RunRecord(
        protocol="synthetic", split=split, method=method, seed=seed, miou=miou,
        per_class_iou={}, best_miou=best, best_iter=iterations, iterations=iterations,
        labeled_batch=8, unlabeled_batch=8, world_size=1, lr=0.01, evaluated_network="student",
        config_hash=config_hash, git_commit="x", versions={}, device="cpu", wall_time_s=1.0,
        train_time_s=1.0, seconds_per_iter=0.1, peak_memory_mb=1.0)


def test_mean_std_and_n_match_hand_computation(tmp_path):
    mious = [40.0, 43.0, 47.5]
    records = [_record("fixmatch", "1_8", k, m, m + 1) for k, m in enumerate(mious)]
    records.append(_record("supervised", "1_8", 0, 30.0, 31.0))
    records.append(_record("supervised", "1_4", 0, 35.0, 36.0))
    for record in records:
        record.save(tmp_path)
    loaded = load_records(tmp_path)
    assert len(loaded) == 5
    table = leaderboard(records_frame(loaded), "synthetic")
    expected = f"{statistics.mean(mious):.2f} ± {statistics.stdev(mious):.2f} (n=3)"
    assert table.loc["fixmatch", "1_8"] == expected
    assert table.loc["supervised", "1_4"] == "35.00 (n=1)"
    assert list(table.columns) == ["1_8", "1_4"]  # protocol order, not alphabetical
    assert table.loc["fixmatch", "1_4"] == ""
    best = leaderboard(records_frame(loaded), "synthetic", "best_miou")
    assert best.loc["supervised", "1_8"] == "31.00 (n=1)"
    text = render(loaded, tmp_path)
    assert "best mIoU over periodic validations" in text
    assert (tmp_path / "leaderboard_synthetic.md").read_text() == text + "\n"
    csv = (tmp_path / "leaderboard_synthetic.csv").read_text().splitlines()
    assert csv[1].startswith("method,split,mean,std,n,best")
    assert csv[2].startswith("fixmatch,1_8,43.5000,3.7749,3,True")


def test_different_configs_of_one_method_are_not_averaged(tmp_path):
    records = [_record("supervised", "1_8", 0, 30.0, 30.0, "a" * 64, 100),
               _record("supervised", "1_8", 0, 50.0, 50.0, "b" * 64, 3000)]
    table = leaderboard(records_frame(records), "synthetic")
    assert set(table.index) == {"supervised [100 it]", "supervised [3000 it]"}
    assert table.loc["supervised [3000 it]", "1_8"] == "50.00 (n=1)"


def test_one_config_per_split_stays_one_row():
    # Real hashes differ per split (the split files are part of the config).
    records = [_record("supervised", "1_8", 0, 30.0, 30.0, "a" * 64),
               _record("supervised", "full", 0, 80.0, 80.0, "b" * 64)]
    table = leaderboard(records_frame(records), "synthetic")
    assert list(table.index) == ["supervised"]
    assert table.loc["supervised", "full"] == "80.00 (n=1)"


def test_variants_are_named_by_options_then_hash():
    by_option = _record("sop", "1_8", 0, 50.0, 50.0, "b" * 64)
    by_option.cfg_options = {"model.ema_momentum": 0.99}
    same_options = _record("sop", "1_8", 1, 20.0, 20.0, "c" * 64)
    records = [_record("sop", "1_8", 0, 20.0, 20.0, "a" * 64), by_option, same_options]
    table = leaderboard(records_frame(records), "synthetic")
    assert set(table.index) == {"sop [100 it, model.ema_momentum=0.99]",
                                "sop [100 it] #aaaaaaaa", "sop [100 it] #cccccccc"}


def test_loading_options_never_split_a_config_into_rows():
    # same config (same hash), one run with loader-only options: one row, named by the
    # option that changes results
    base = [_record("sop", "1_8", 0, 50.0, 50.0, config_hash="b" * 64)]
    tuned = [_record("sop", "1_8", k, 60.0 + k, 61.0, config_hash="c" * 64) for k in (0, 1)]
    tuned[0].cfg_options = {"model.sop_weight": 0}
    tuned[1].cfg_options = {"model.sop_weight": 0, "train_dataloader.num_workers": 0,
                            "train_dataloader.persistent_workers": False}
    table = leaderboard(records_frame(base + tuned), "synthetic")
    assert list(table.index) == ["sop [100 it, model.sop_weight=0]", "sop [100 it]"]
    assert table.loc["sop [100 it, model.sop_weight=0]", "1_8"].endswith("(n=2)")


def test_a_method_run_only_with_options_is_named_by_them():
    # one config of sop, all of it with sop_weight=0: not the bare method name
    records = [_record("sop", "1_8", k, 50.0 + k, 51.0, config_hash="d" * 64) for k in (0, 1)]
    for record in records:
        record.cfg_options = {"model.sop_weight": 0}
    records.append(_record("supervised", "1_8", 0, 40.0, 41.0, config_hash="e" * 64))
    table = leaderboard(records_frame(records), "synthetic")
    assert set(table.index) == {"sop [100 it, model.sop_weight=0]", "supervised"}
