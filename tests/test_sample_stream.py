"""Augmentation as a function of (stream seed, draw): independent of loader workers."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch


class _Sized:
    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def _take(iterator, count):
    return [next(iterator) for _ in range(count)]


def test_sampler_keeps_infinite_sampler_indices_and_numbers_every_draw():
    from mmengine.dataset import InfiniteSampler

    from benchmark.data.sample_stream import DrawIndexedSampler, draw_seed

    plain = _take(iter(InfiniteSampler(_Sized(5), shuffle=True, seed=3)), 12)
    draws = _take(iter(DrawIndexedSampler(_Sized(5), shuffle=True, seed=3)), 12)
    assert [d.index for d in draws] == plain
    assert [d.seed for d in draws] == [draw_seed(3, pos, idx) for pos, idx in enumerate(plain)]
    # the same image in the next pass gets another seed, so other augmentations
    first, second = draws[plain.index(plain[0])], draws[5 + plain[5:10].index(plain[0])]
    assert first.index == second.index and first.seed != second.seed
    assert len({d.seed for d in draws}) == 12


def test_a_rank_sees_the_draws_it_has_in_the_single_process_stream():
    from benchmark.data.sample_stream import DrawIndexedSampler

    single = _take(iter(DrawIndexedSampler(_Sized(7), seed=11)), 10)
    ranks = []
    for rank in (0, 1):
        sampler = DrawIndexedSampler(_Sized(7), seed=11)
        sampler.rank, sampler.world_size = rank, 2
        sampler.indices = sampler._indices_of_rank()
        ranks.append(_take(iter(sampler), 5))
    assert ranks[0] == single[0::2] and ranks[1] == single[1::2]


def test_seeded_draw_fixes_the_body_and_leaves_the_callers_stream_alone():
    from benchmark.data.sample_stream import seeded_draw

    def body():
        return (np.random.randint(1 << 30), random.random(), float(torch.rand(1)))

    np.random.seed(0), random.seed(0), torch.manual_seed(0)
    expected_after = body()
    np.random.seed(0), random.seed(0), torch.manual_seed(0)
    with seeded_draw(1234):
        inside = body()
    assert body() == expected_after  # the caller's generators continue as if untouched
    np.random.seed(99), random.seed(99), torch.manual_seed(99)
    with seeded_draw(1234):
        assert body() == inside  # whatever state the caller had
    with seeded_draw(1235):
        assert body() != inside
    with seeded_draw(None):
        assert body() != inside  # a plain index leaves the generators as they are


def _unlabeled_item(dataset, draw):
    item = dataset[draw]["unlabeled"]
    return [item["inputs"], *item["strong"], item["cutmix_boxes"]]


def test_an_item_depends_on_its_draw_only(small_synthetic_dataset):
    from mmengine.registry import init_default_scope

    import benchmark.plugins  # noqa: F401
    from benchmark.data.sample_stream import SampleDraw
    from tests.conftest import build_run_config

    init_default_scope("mmseg")
    from mmseg.registry import DATASETS

    cfg = build_run_config("unimatch", Path(os.environ["SEMISEG_DATA"]) / "stream")
    dataset = DATASETS.build(cfg.train_dataloader.dataset.to_dict())
    draw = SampleDraw(3, 987654321)
    torch.manual_seed(1), np.random.seed(1)
    first = _unlabeled_item(dataset, draw)
    torch.manual_seed(2), np.random.seed(2)
    again = _unlabeled_item(dataset, draw)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    other = _unlabeled_item(dataset, SampleDraw(3, 987654322))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def _run(root: Path, workers: int) -> dict:
    command = [sys.executable, "-m", "benchmark", "run", "--methods", "unimatch", "--split",
               "1_8", "--iters", "30", "--jobs", "1", "--results-dir", str(root / "results"),
               "--work-dir", str(root / "work"), "--cfg-options",
               f"train_dataloader.num_workers={workers}",
               f"train_dataloader.persistent_workers={workers > 0}",
               "train_cfg.val_interval=15"]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = (root / "results" / "runs").glob("*.json")
    return json.loads(path.read_text())


@pytest.mark.slow
def test_the_same_run_gives_the_same_record_with_0_1_and_2_loader_workers(tmp_path):
    records = {workers: _run(tmp_path / str(workers), workers) for workers in (0, 1, 2)}
    reference = records[0]
    assert len(reference["val_history"]) == 2
    for workers, record in records.items():
        assert record["config_hash"] == reference["config_hash"], workers
        assert record["miou"] == reference["miou"], workers
        assert record["per_class_iou"] == reference["per_class_iou"], workers
        assert record["val_history"] == reference["val_history"], workers
        assert record["diagnostics"] == reference["diagnostics"], workers
