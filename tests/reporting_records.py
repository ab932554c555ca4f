"""Hand-made run records for the reporting tests."""

from __future__ import annotations

from benchmark.runs.record import RunRecord

CLASSES = ("background", "thing")


def make_record(method: str, split: str, seed: int, miou: float, protocol: str = "synthetic",
                config_hash: str | None = None, **fields) -> RunRecord:
    """A complete record with small, fixed values for everything the test does not set."""
    values = dict(
        protocol=protocol, split=split, method=method, seed=seed, miou=miou,
        per_class_iou={"background": 90.0, "thing": 2 * miou - 90.0}, best_miou=miou + 1.0,
        best_iter=100, iterations=100, labeled_batch=8,
        unlabeled_batch=0 if method == "supervised" else 8, world_size=1, lr=0.01,
        evaluated_network="student", config_hash=config_hash or (method + split).ljust(64, "0"),
        git_commit="x", versions={}, device="cpu", wall_time_s=60.0, train_time_s=50.0,
        seconds_per_iter=0.5, peak_memory_mb=100.0,
        val_history=[{"iter": 50, "mIoU": miou - 5.0}, {"iter": 100, "mIoU": miou}])
    values.update(fields)
    return RunRecord(**values)


def small_set() -> list[RunRecord]:
    """supervised and fixmatch at 1_8 (seeds 0-2, fixmatch +5 beyond noise), cps at 1_8
    (within noise of supervised), supervised at full (one seed)."""
    records = []
    for seed, (sup, fix, cps) in enumerate([(50.0, 55.5, 48.0), (52.0, 56.5, 55.0),
                                            (51.0, 56.0, 51.0)]):
        records += [make_record("supervised", "1_8", seed, sup),
                    make_record("fixmatch", "1_8", seed, fix, wall_time_s=120.0,
                                seconds_per_iter=1.0, peak_memory_mb=150.0, threads=1),
                    make_record("cps", "1_8", seed, cps)]
    records.append(make_record("supervised", "full", 0, 80.0))
    return records
