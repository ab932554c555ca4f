"""Replace a segmentor's forward helpers by a fixed 1x1 convolution, for hand checks.

With ``logits = conv(x)`` at full resolution, every quantity in a method's loss can be
recomputed independently from the formulas of docs/methods/ in the test.
"""

from __future__ import annotations

import torch
from torch import nn


def patch_with_conv(model, num_classes: int | None = None, seed: int = 0) -> nn.Conv2d:
    """Make ``raw_logits``/``logits`` of every network return ``conv(x)``; return ``conv``."""
    from tests.conftest import num_classes as default_classes

    torch.manual_seed(seed)
    conv = nn.Conv2d(3, num_classes or default_classes(), 1)
    conv.weight.data.mul_(3.0)

    def raw_logits(network, inputs):
        return conv(inputs)

    def logits(network, inputs):
        return conv(inputs)

    model.raw_logits = raw_logits
    model.logits = logits
    model.upsample = lambda network, raw, size: raw
    return conv


def ce_map(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy from log-softmax gathering (independent of F.cross_entropy)."""
    log_probs = logits.log_softmax(dim=1)
    return -log_probs.gather(1, target.clamp(0, logits.shape[1] - 1).unsqueeze(1)).squeeze(1)
