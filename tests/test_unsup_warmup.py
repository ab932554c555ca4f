"""The protocol-level warm-up of unsupervised losses and the hook that drives it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from benchmark.engine import TrainProgressHook
from tests.conftest import build_model, build_run_config, real_batch


def _unimatch_losses(tmp_path, warmup_ratio, iteration, max_iterations):
    cfg = build_run_config("unimatch", tmp_path, **{"model.unsup_warmup_ratio": warmup_ratio})
    model = build_model(cfg)
    model.train()
    model.set_train_progress(iteration, max_iterations)
    data = model.data_preprocessor(real_batch(cfg), True)
    torch.manual_seed(0)
    return model(**data, mode="loss")


@pytest.mark.parametrize(("ratio", "iteration", "total", "expected"), [
    (0.0, 0, 100, 1.0),      # disabled
    (0.1, 0, 100, 0.1),      # (0 + 1) / (0.1 * 100)
    (0.1, 4, 100, 0.5),
    (0.1, 9, 100, 1.0),      # last warm-up iteration reaches full weight
    (0.1, 50, 100, 1.0),
    (0.5, 0, 10, 0.2),
])
def test_scale_follows_linear_ramp(tmp_path, ratio, iteration, total, expected):
    cfg = build_run_config("supervised", tmp_path, **{"model.unsup_warmup_ratio": ratio})
    model = build_model(cfg)
    model.set_train_progress(iteration, total)
    assert model.unsup_weight_scale() == pytest.approx(expected)


def test_only_unsupervised_losses_are_scaled(tmp_path):
    full = _unimatch_losses(tmp_path / "a", 0.0, 0, 10)
    ramped = _unimatch_losses(tmp_path / "b", 0.5, 0, 10)  # scale 1 / 5
    unsup_keys = [k for k in full if k.startswith("unsup.") and "loss" in k]
    assert unsup_keys
    for key, value in full.items():
        factor = 0.2 if key in unsup_keys else 1.0
        torch.testing.assert_close(torch.as_tensor(ramped[key]),
                                   torch.as_tensor(value) * factor, msg=key)


def test_bad_ratio_is_rejected(tmp_path):
    cfg = build_run_config("supervised", tmp_path, **{"model.unsup_warmup_ratio": 1.5})
    with pytest.raises(ValueError, match="unsup_warmup_ratio"):
        build_model(cfg)


def test_hook_tells_model_iteration_before_each_step():
    seen = []
    model = SimpleNamespace(set_train_progress=lambda it, total: seen.append((it, total)))
    runner = SimpleNamespace(model=model, iter=7, max_iters=20)
    TrainProgressHook().before_train_iter(runner, batch_idx=0)
    assert seen == [(7, 20)]
    # Models without the method (plain MMSeg segmentors) are left alone.
    TrainProgressHook().before_train_iter(SimpleNamespace(model=object(), iter=0, max_iters=1), 0)
