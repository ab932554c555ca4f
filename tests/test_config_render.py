"""A run's config renders without yapf, and the unformatted text loads back to the same config.

MMEngine renders the config text when the Runner starts (log, ``vis_data/config.py``, the
work dir's copy) and in every checkpoint's ``meta['cfg']``; yapf formatting each render
cost seconds per checkpoint. ``FormatCode`` is replaced by a function that fails, so any
render that still formats fails the test.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import mmengine.config.config as mmengine_config
import pytest
import torch
from mmengine.config import Config

from benchmark.engine.console import file_logging
from benchmark.engine.resume import ResumableRunner
from tests.conftest import build_run_config


def _yapf_called(*args, **kwargs):
    raise AssertionError("yapf's FormatCode was called")


@pytest.fixture
def no_yapf(monkeypatch):
    """Make every yapf formatting of a config text fail."""
    monkeypatch.setattr(mmengine_config, "FormatCode", _yapf_called)


def _composed(method: str, tmp_path: Path) -> Config:
    # random init: what is rendered does not depend on the backbone checkpoint
    return build_run_config(method, tmp_path, pretrained="none")


def _reloaded(text: str, path: Path) -> dict:
    path.write_text(text, encoding="utf-8")
    return Config.fromfile(path).to_dict()


def test_the_patch_catches_a_formatting_render(no_yapf):
    # MMEngine turns a failing formatter into a SyntaxError
    with pytest.raises(SyntaxError, match="Failed to format"):
        Config(dict(a=1)).pretty_text  # noqa: B018


@pytest.mark.parametrize("method", ["supervised", "unimatch"])
def test_composed_config_and_its_copies_render_unformatted(method, tmp_path, no_yapf):
    cfg = _composed(method, tmp_path)
    copies = [cfg, copy.deepcopy(cfg), copy.copy(cfg), pickle.loads(pickle.dumps(cfg))]
    texts = [c.pretty_text for c in copies]
    assert len(set(texts)) == 1
    assert _reloaded(texts[0], tmp_path / "rendered.py") == cfg.to_dict()
    cfg.dump(tmp_path / "dumped.py")
    assert Config.fromfile(tmp_path / "dumped.py").to_dict() == cfg.to_dict()


def test_runner_start_and_checkpoint_render_unformatted(tmp_path, no_yapf):
    cfg = _composed("unimatch", tmp_path)
    # MMEngine reuses a visualizer of the same name, with the save dir of the first Runner
    cfg.visualizer.name = f"render-{tmp_path.name}"
    # the Runner logs the config, writes vis_data/config.py and its work-dir copy
    runner = file_logging(ResumableRunner).from_cfg(copy.deepcopy(cfg))
    runner.save_checkpoint(str(tmp_path), "render.pth", save_optimizer=False,
                           save_param_scheduler=False)
    meta = torch.load(tmp_path / "render.pth", map_location="cpu", weights_only=False)["meta"]
    assert _reloaded(meta["cfg"], tmp_path / "from_checkpoint.py") == cfg.to_dict()
    work_copy = Path(cfg.work_dir) / Path(cfg.filename).name
    assert Config.fromfile(work_copy).to_dict() == cfg.to_dict()
