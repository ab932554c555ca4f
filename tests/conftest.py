"""Shared fixtures: a small built-in dataset, composed configs and real batches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmark.contract.fixtures import (  # noqa: F401 - shared with the tests
    build_model,
    compose_check_config,
    real_batch,
    round_batch,
)

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

    return compose_check_config(method, tmp_path / "work", split, cfg_options)
