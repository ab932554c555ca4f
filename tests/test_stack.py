"""The software stack works: mmcv ops, an MMSeg DeepLabv3+ from our base config, the env command."""

from __future__ import annotations

import re
import subprocess
import sys

import torch
from mmengine.config import Config

from benchmark.paths import CONFIG_ROOT


def test_mmcv_ops_import():
    import mmcv.ops

    assert hasattr(mmcv.ops, "nms")


def test_deeplabv3plus_from_base_config_forward_backward():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(CONFIG_ROOT / "_base_/models/deeplabv3plus_r18_narrow.py")
    network = MODELS.build(cfg.model.segmentor)
    assert type(network).__name__ == "EncoderDecoder"
    assert type(network.decode_head).__name__ == "DepthwiseSeparableASPPHead"
    network.train()
    images = torch.randn(2, 3, 64, 64)
    logits = network._forward(images)
    assert logits.shape == (2, cfg.model.segmentor.decode_head.num_classes, 16, 16)
    logits.logsumexp(1).mean().backward()
    grads = [p.grad for p in network.backbone.parameters()]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_env_command_names_packages():
    result = subprocess.run([sys.executable, "-m", "benchmark", "env"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    for name in ("python", "torch", "mmcv", "mmengine", "mmseg", "timm", "device"):
        assert f"{name}:" in result.stdout
    assert re.search(r"^mmcv ops:\s+yes$", result.stdout, re.MULTILINE)
