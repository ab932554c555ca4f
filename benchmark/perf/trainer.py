"""Build a model and its optimizer wrapper for timing, without MMEngine's INFO lines."""

from __future__ import annotations

import logging
from typing import Any

import torch


def build_quiet_trainer(model_cfg: Any, optim_cfg: Any, seed: int) -> tuple[Any, Any]:
    """Build, initialise and put in train mode a model, with its optimizer wrapper.

    MMEngine's optimizer constructor logs one INFO line per parameter option; they are
    silenced while building so a perf table stays readable.

    Args:
        model_cfg: Model config (a registered ``SemiSegmentor``).
        optim_cfg: ``optim_wrapper`` config.
        seed: Torch seed for the weight initialisation.

    Returns:
        ``(model, optim_wrapper)``; the teacher, if any, is initialised from the student.
    """
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        torch.manual_seed(seed)
        model = MODELS.build(model_cfg)
        model.init_weights()
        model.init_teacher()
        model.train()
        return model, build_optim_wrapper(model, optim_cfg)
    finally:
        logger.setLevel(level)
