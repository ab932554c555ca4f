"""A method's composed config, a real training batch and a built model, for checks and tests.

The one place where "compose the config, collate a batch as the dataloader does, build and
initialise the model" is written; the contract checks, the tests and the perf commands
share it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from mmengine.config import Config


def compose_check_config(method: str, work_dir: Path, split: str = "1_8",
                         cfg_options: dict | None = None, iters: int = 2,
                         backbone: str | None = None) -> Config:
    """Compose the real config of ``method`` on the built-in protocol.

    Args:
        method: Registered method name (plugins loaded).
        work_dir: The run's work dir (self-training methods keep pseudo-labels there).
        split: Split of the built-in protocol.
        cfg_options: ``--cfg-options`` of the run.
        iters: Training iterations of the composed schedule.
        backbone: ``--backbone`` of the run (None: the protocol's network).

    Raises:
        BenchmarkError: If the config does not compose.
    """
    from benchmark.protocols import get_protocol
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    spec = RunSpec(method=method, protocol="synthetic", split=split, seed=0, iters=iters,
                   cfg_options=dict(cfg_options or {}), backbone=backbone)
    return build_config(spec, get_protocol("synthetic").data_root(), Path(work_dir))


def real_batch(cfg: Config, batch_size: int = 2, seed: int = 0) -> dict:
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


def round_batch(cfg: Config, round_index: int, batch_size: int = 2, seed: int = 0) -> dict:
    """A batch of self-training round ``round_index`` (items, collated, before preprocessing).

    The pseudo-labels come from the config's model freshly initialised (:func:`build_model`)
    and are kept in ``cfg.work_dir/self_training``.
    """
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


def build_model(cfg: Config):
    """Build the config's model with MMEngine's registry and initialise its weights."""
    from mmseg.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if getattr(model, "teacher", None) is not None:
        model.init_teacher()
    return model
