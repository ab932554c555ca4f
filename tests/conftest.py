"""Shared fixtures: a small built-in dataset, composed configs and real batches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

SMALL_SYNTHETIC = {"num_train": 48, "num_val": 8}
# A pretrained backbone made in seconds (the default recipe takes minutes).
TINY_PRETRAIN = {"num_images": 16, "iterations": 2, "batch_size": 2}


def num_classes() -> int:
    """Classes of the built-in dataset (background included)."""
    from benchmark.synthetic import SyntheticSpec

    return len(SyntheticSpec().class_names)


@pytest.fixture(scope="session", autouse=True)
def small_synthetic_dataset(tmp_path_factory) -> Path:
    """Point the built-in protocol at a small generated dataset for the whole session."""
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    data_home = tmp_path_factory.mktemp("data")
    os.environ["SEMISEG_DATA"] = str(data_home)
    os.environ["SEMISEG_SYNTHETIC"] = json.dumps(SMALL_SYNTHETIC)
    os.environ["SEMISEG_PRETRAIN"] = json.dumps(TINY_PRETRAIN)
    from benchmark.protocols import get_protocol

    return get_protocol("synthetic").data_root()


@pytest.fixture(scope="session")
def plugins_loaded():
    import benchmark.plugins  # noqa: F401

    return True


def build_run_config(method: str, tmp_path: Path, split: str = "1_8", **cfg_options):
    """Compose the real config of ``method`` on the small built-in dataset."""
    import benchmark.plugins  # noqa: F401
    from benchmark.protocols import get_protocol
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    spec = RunSpec(method=method, protocol="synthetic", split=split, seed=0, iters=2,
                   cfg_options=cfg_options)
    return build_config(spec, get_protocol("synthetic").data_root(), tmp_path / "work")


def real_batch(cfg, batch_size: int = 2, seed: int = 0) -> dict:
    """Run the config's train dataset and collate ``batch_size`` items, as a dataloader does.

    Round-based methods (``SelfTrainingLoop``) get a batch of their last round, whose
    pseudo-labels the config's freshly initialised model writes into ``cfg.work_dir``.
    """
    import numpy as np
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS

    if cfg.train_cfg.get("type") == "SelfTrainingLoop":
        return round_batch(cfg, len(cfg.train_cfg.rounds) - 1, batch_size, seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return pseudo_collate([dataset[i] for i in range(batch_size)])


def round_batch(cfg, round_index: int, batch_size: int = 2, seed: int = 0) -> dict:
    """A batch of self-training round ``round_index`` (items, collated, before preprocessing).

    The pseudo-labels come from the config's model freshly initialised (``build_model``)
    and are kept in ``cfg.work_dir/self_training``.
    """
    from pathlib import Path

    import numpy as np
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS

    from benchmark.self_training import (
        PseudoLabeler,
        RoundSpec,
        labeling_settings,
        round_loader_cfg,
    )

    source = cfg.train_dataloader.to_dict() if hasattr(cfg.train_dataloader, "to_dict") \
        else dict(cfg.train_dataloader)
    spec = RoundSpec(**cfg.train_cfg.rounds[round_index])
    labels = None
    if spec.unlabeled_batch:
        labeled, unlabeled = source["dataset"]["labeled"], source["dataset"]["unlabeled"]
        settings = labeling_settings(cfg.train_cfg.get("labeling"), labeled["pipeline"])
        labeler = PseudoLabeler(Path(cfg.work_dir) / "self_training", labeled, unlabeled,
                                settings)
        labels = labeler.load(round_index)
        if labels is None:
            model = build_model(cfg)
            labels = labeler.generate(round_index, model, model.select_pseudo_labels,
                                      spec.selection, seed)
    dataset = DATASETS.build(round_loader_cfg(source, spec, labels)["dataset"])
    np.random.seed(seed)
    torch.manual_seed(seed)
    return pseudo_collate([dataset[i] for i in range(batch_size)])


def build_model(cfg):
    """Build the config's model with MMEngine's registry and initialise its weights."""
    from mmseg.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if getattr(model, "teacher", None) is not None:
        model.init_teacher()
    return model
