"""The built-in pretrained backbone: deterministic, matching, disjoint, verified."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import TINY_PRETRAIN


def _protocol_cfg():
    from mmengine.config import Config

    import benchmark.plugins  # noqa: F401
    from benchmark.protocols import get_protocol

    return Config.fromfile(get_protocol("synthetic").base_config)


def _recipe(**changes):
    from benchmark.pretrain import PretrainRecipe

    return PretrainRecipe(**{**TINY_PRETRAIN, **changes})


def _build(tmp_path, monkeypatch, name="a", **changes):
    from benchmark.pretrain import ensure_pretrained_backbone
    from benchmark.protocols import synthetic_spec

    monkeypatch.setenv("SEMISEG_DATA", str(tmp_path / name))
    return ensure_pretrained_backbone(synthetic_spec(), _protocol_cfg(), _recipe(**changes),
                                      stream=None)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_same_recipe_gives_the_same_tensors(tmp_path, monkeypatch):
    first = _build(tmp_path, monkeypatch, "a")
    second = _build(tmp_path, monkeypatch, "b")
    assert first.path != second.path
    a, b = _weights(first.path), _weights(second.path)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    other_seed = _weights(_build(tmp_path, monkeypatch, "c", seed=1).path)
    assert any(not torch.equal(a[k], other_seed[k]) for k in a if a[k].is_floating_point())


def test_checkpoint_keys_match_the_protocol_backbone(tmp_path, monkeypatch):
    from mmseg.registry import MODELS

    found = _build(tmp_path, monkeypatch)
    backbone_cfg = _protocol_cfg().model.segmentor.backbone.to_dict()
    backbone_cfg.pop("init_cfg", None)
    expected = MODELS.build(backbone_cfg).state_dict()
    weights = _weights(found.path)
    assert weights.keys() == expected.keys()
    assert all(weights[k].shape == expected[k].shape for k in expected)


def test_pretraining_set_is_disjoint_from_the_benchmark_set(tmp_path, monkeypatch):
    from PIL import Image

    from benchmark.pretrain import pretraining_classes, pretraining_spec
    from benchmark.protocols import synthetic_spec

    target = synthetic_spec()
    found = _build(tmp_path, monkeypatch)
    classes = pretraining_classes(target)
    assert not set(classes) & set(target.object_classes)
    assert len(classes) + len(target.object_classes) == 20  # every (shape, texture) pair once
    data = pretraining_spec(target, _recipe())
    assert found.meta["pretraining_data"]["fingerprint"] == data.fingerprint()

    def image_digests(root):
        return {hashlib.sha256(np.asarray(Image.open(p)).tobytes()).hexdigest()
                for p in (root / "JPEGImages").glob("*.jpg")}

    from benchmark.synthetic import default_root

    pretrain_images = image_digests(default_root(data))
    benchmark_images = image_digests(default_root(target))
    assert len(pretrain_images) == TINY_PRETRAIN["num_images"]
    assert not pretrain_images & benchmark_images


def test_corrupt_cache_is_rebuilt_with_a_message(tmp_path, monkeypatch):
    from benchmark.pretrain import ensure_pretrained_backbone
    from benchmark.protocols import synthetic_spec

    found = _build(tmp_path, monkeypatch)
    original = found.path.read_bytes()
    found.path.write_bytes(b"not a checkpoint")
    stream = io.StringIO()
    rebuilt = ensure_pretrained_backbone(synthetic_spec(), _protocol_cfg(), _recipe(),
                                         stream=stream)
    assert "fails its checksum; rebuilding" in stream.getvalue()
    assert rebuilt.sha256 == found.sha256
    assert rebuilt.path.read_bytes() == original


def test_run_loads_the_checkpoint_through_init_cfg(tmp_path):
    from mmseg.registry import MODELS

    from tests.conftest import build_run_config

    cfg = build_run_config("supervised", tmp_path)
    init = cfg.model.segmentor.backbone.init_cfg
    assert init.type == "Pretrained"
    model = MODELS.build(cfg.model)
    model.init_weights()
    weights = _weights(init.checkpoint)
    for key, value in model.student.backbone.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert cfg.pretrained_sha256 == hashlib.sha256(open(init.checkpoint, "rb").read()).hexdigest()


def test_random_init_and_checksum_enter_the_config_hash(tmp_path):
    from benchmark.runs.config_builder import config_hash
    from tests.conftest import build_run_config

    pretrained = build_run_config("supervised", tmp_path)
    scratch = build_run_config("supervised", tmp_path, pretrained="none")
    assert "init_cfg" not in scratch.model.segmentor.backbone
    assert config_hash(pretrained) != config_hash(scratch)
    moved = build_run_config("supervised", tmp_path)
    moved.model.segmentor.backbone.init_cfg.checkpoint = "/elsewhere/backbone.pth"
    assert config_hash(moved) == config_hash(pretrained)  # the path is not the identity
    moved.pretrained_sha256 = "0" * 64
    assert config_hash(moved) != config_hash(pretrained)


def test_missing_checkpoint_path_exits_2_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--methods", "supervised", "--iters", "1",
         "--results-dir", str(tmp_path), "--cfg-options", "pretrained=/nonexistent/r18.pth"],
        capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "/nonexistent/r18.pth not found" in lines[0]


@pytest.mark.parametrize("value", ['{"iterations": 0}', '[1, 2]', '{"nope": 1}'])
def test_bad_recipe_override_is_one_line(value, monkeypatch):
    from benchmark.errors import BenchmarkError
    from benchmark.pretrain import recipe_from_env

    monkeypatch.setenv("SEMISEG_PRETRAIN", value)
    with pytest.raises(BenchmarkError, match="SEMISEG_PRETRAIN|must be >= 1"):
        recipe_from_env()


def test_pretrain_command_prints_where_and_how(tmp_path):
    result = subprocess.run([sys.executable, "-m", "benchmark", "pretrain", "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads(result.stdout)
    assert meta["recipe"] == {**meta["recipe"], **TINY_PRETRAIN}
    assert hashlib.sha256(open(meta["path"], "rb").read()).hexdigest() == meta["sha256"]


def test_checkpoint_does_not_depend_on_the_callers_thread_count(tmp_path, monkeypatch):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _weights(_build(tmp_path, monkeypatch, "one", iterations=6).path)
        torch.set_num_threads(3)
        three = _weights(_build(tmp_path, monkeypatch, "three", iterations=6).path)
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    for key in one:
        assert torch.equal(one[key], three[key]), key


def test_every_method_and_option_shares_the_protocols_checkpoint(tmp_path):
    from tests.conftest import build_run_config

    reference = build_run_config("supervised", tmp_path).pretrained_sha256
    # a leaf that changes the preprocessor and a --cfg-options that changes the optimiser
    # must neither rebuild nor change the backbone every method starts from
    assert build_run_config("dars", tmp_path).pretrained_sha256 == reference
    changed = build_run_config("supervised", tmp_path,
                               **{"optim_wrapper.optimizer.momentum": 0.5})
    assert changed.pretrained_sha256 == reference
